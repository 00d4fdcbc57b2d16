"""Grouped-query attention: n_heads query heads share n_kv_heads key/value heads.

Query head h reads key/value head h // (n_heads / n_kv_heads) (Ainslie et al.,
2023). With n_kv_heads == n_heads this is mha, weight for weight; with 1 it is
multi-query attention. The KV cache keeps only the shared heads:
2 * n_kv_heads * d_k numbers per token per layer instead of mha's 2 * head_size.
"""

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, NoPositions, ops, positive


@attrs.frozen(kw_only=True)
class GQAOptions:
    n_kv_heads: int = attrs.field(default=1, validator=positive)  # key/value heads; must divide n_heads


class GroupedQueryAttention(littlebaby.Block):
    Options = GQAOptions

    @classmethod
    def parameter_formula(cls, config, options):
        H, A, K = config.n_emb, config.head_size, options.n_kv_heads * config.d_k
        biases = (A + 2 * K) * config.qkv_bias + H * config.bias
        text = f"H(A + 2K) + AH{' + A + 2K' * config.qkv_bias}{' + H' * config.bias}"
        return f"{text} (q, shared k and v of width K, projection, biases)", H * (A + 2 * K) + A * H + biases

    @classmethod
    def hugging_face(cls, family, config, options):
        """Llama's q, k, v (out, in) are our fused weight's column blocks; its o_proj our projection."""
        if family != "llama" or config.qkv_bias or config.bias:
            return None
        A, K = config.head_size, options.n_kv_heads * config.d_k
        qkv = [("self_attn.q_proj.weight", A), ("self_attn.k_proj.weight", K), ("self_attn.v_proj.weight", K)]
        return {"qkv.weight": qkv, "proj.weight": ("self_attn.o_proj.weight", True)}

    def __init__(self, config, options=None, position=None):
        super().__init__(config, options or GQAOptions())
        self.n_heads, self.n_kv_heads = config.n_heads, self.options.n_kv_heads
        if self.n_heads % self.n_kv_heads != 0:
            raise littlebaby.UserError(
                f"bad gqa option value: n_kv_heads: must divide n_heads ({self.n_heads} % {self.n_kv_heads} != 0)",
                "fix the value in the config or override it (key=value)",
            )
        self.group = self.n_heads // self.n_kv_heads  # query heads per key/value head
        kv_width = self.n_kv_heads * config.d_k
        self.split = (config.head_size, config.head_size + kv_width)  # q | k | v columns, as mha's
        self.qkv = self.add("qkv", Linear(config.n_emb, config.head_size + 2 * kv_width, bias=config.qkv_bias))
        self.position = self.add("position", position or NoPositions(config))  # rope rotates q and the shared k
        self.attend = self.add("attend", CausalAttention.of(config))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, bias=config.bias, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k, v = np.split(self.qkv.forward(x), self.split, axis=-1)
        q = ops.split_heads(q, self.n_heads)  # (B, H, T, d_k)
        k, v = ops.split_heads(k, self.n_kv_heads), ops.split_heads(v, self.n_kv_heads)  # (B, G, T, d_k)
        q, k = self.position.place(q, k, cache)
        if cache is not None:  # (B, G, pos + T, d_k): the cache holds the shared heads only
            k, v = cache.extend("k", k), cache.extend("v", v)
        # every query head of a group reads the same key/value head
        o = self.attend.forward(q, np.repeat(k, self.group, axis=1), np.repeat(v, self.group, axis=1))
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)  # dk, dv (B, H, T, d_k)
        B, H, T, d = dk.shape
        # a shared head's gradient is the sum over the query heads of its group
        dk, dv = (g.reshape(B, self.n_kv_heads, self.group, T, d).sum(axis=2) for g in (dk, dv))
        dq, dk = self.position.place_backward(dq, dk)
        return self.qkv.backward(np.concatenate([ops.merge_heads(g) for g in (dq, dk, dv)], axis=-1))


@littlebaby.hookimpl
def register_attentions(register):
    register("gqa", GroupedQueryAttention)
