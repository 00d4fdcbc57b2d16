"""Causal multi-head attention with rotary position embeddings (RoPE, Su et al. 2021).

As `mha` (q, k, v: n_emb -> head_size in one GEMM, n_heads heads of d_k, projection
back with bias), except that q and k are rotated by their position before the scores
(`littlebaby.nn.ops.rotary`): q . k then depends on positions only through their
difference, so a model can drop its learned positions (`pos_emb: false`).

- Odd head width: the rotation pairs feature i with i + d_k // 2; the last feature of an
  odd d_k is left unrotated (with d_k = 1 nothing is rotated and this is `mha`).
- KV cache: k already rotated, and v: 2 * head_size numbers per token per layer, as mha.
  New tokens are rotated at their absolute position (`cache.position`, which keeps
  counting when the cache slides), so cached keys keep their rotations and sliding
  the window past n_ctx gives the same scores as a fresh window.
- Backward: a rotation is orthogonal, its gradient is the inverse rotation.
"""

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, ops, positive


@attrs.frozen(kw_only=True)
class RopeOptions:
    rope_base: float = attrs.field(default=10000.0, validator=positive)  # wavelength scale of the rotations


class RotaryAttention(littlebaby.Block):
    Options = RopeOptions

    @classmethod
    def parameter_formula(cls, config, options):
        H, A = config.n_emb, config.head_size
        return "4HA + H (q, k, v, projection and its bias; the rotation has no parameters)", 4 * H * A + H

    def __init__(self, config, options=None):
        super().__init__(config, options or RopeOptions())
        self.n_heads = config.n_heads
        self.qkv = self.add("qkv", Linear(config.n_emb, 3 * config.head_size, bias=False))
        self.attend = self.add("attend", CausalAttention(config.dropout))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))
        self.n_ctx = config.n_ctx
        self.table, self.table_key = None, None  # cos, sin of positions 0 .. n_ctx - 1, and their (d_k, dtype)

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k, v = ops.split_qkv(self.qkv.forward(x), self.n_heads)  # (B, H, T, d_k)
        start = cache.position if cache is not None else 0
        self.saved = self.rotations(start, x.shape[1], q.shape[-1], q.dtype)  # cos, sin (T, d_k // 2)
        q, k = ops.rotary_forward(q, *self.saved), ops.rotary_forward(k, *self.saved)
        if cache is not None:  # (B, H, pos + T, d_k): keys stored rotated
            k, v = cache.extend("k", k), cache.extend("v", v)
        o = self.attend.forward(q, k, v)  # (B, H, T, d_k)
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def rotations(self, start: int, T: int, d_k: int, dtype):
        """cos, sin (T, d_k // 2) of positions start .. start + T - 1. Every step, eval batch and token
        within n_ctx needs rows of the same table: it is built once and sliced. Positions past n_ctx
        (a cache sliding on) get their own rows, the same numbers the table would hold."""
        if start + T > self.n_ctx:
            return ops.rotary_tables(np.arange(start, start + T), d_k, self.options.rope_base, dtype)
        if self.table_key != (d_k, np.dtype(dtype)):
            self.table = ops.rotary_tables(np.arange(self.n_ctx), d_k, self.options.rope_base, dtype)
            self.table_key = (d_k, np.dtype(dtype))
        cos, sin = self.table
        return cos[start : start + T], sin[start : start + T]

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)
        dq, dk = ops.rotary_backward(dq, *self.saved), ops.rotary_backward(dk, *self.saved)
        return self.qkv.backward(ops.merge_qkv(dq, dk, dv))


@littlebaby.hookimpl
def register_attentions(register):
    register("rope", RotaryAttention)
