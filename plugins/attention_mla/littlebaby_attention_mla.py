"""Multi-head latent attention (DeepSeek-V2, without its decoupled RoPE keys).

Keys and values are not projected from x directly but from a low-rank latent
c = LayerNorm(x W_down) of width kv_latent, shared by all heads:
k, v = c W_up (kv_latent -> 2 head_size). The KV cache stores only c, so it
holds kv_latent numbers per token per layer instead of mha's 2 * head_size;
keys and values are re-expanded from it at each step (DeepSeek folds W_up into
the query and output projections instead; this keeps the math plain).
Queries are projected from x as in mha.
"""

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, LayerNorm, Linear, ops, positive


@attrs.frozen(kw_only=True)
class MLAOptions:
    kv_latent: int = attrs.field(default=32, validator=positive)  # width of the cached latent


class MultiHeadLatentAttention(littlebaby.Block):
    Options = MLAOptions

    @classmethod
    def parameter_formula(cls, config, options):
        H, A, L = config.n_emb, config.head_size, options.kv_latent
        return "HA + HL + 2L + 2LA + AH + H (q, latent down, its norm, k and v up, projection and bias)", (
            H * A + H * L + 2 * L + 2 * L * A + A * H + H
        )

    def __init__(self, config, options=None):
        super().__init__(config, options or MLAOptions())
        self.n_heads = config.n_heads
        latent = self.options.kv_latent
        self.q = self.add("q", Linear(config.n_emb, config.head_size, bias=False))
        self.down = self.add("down", Linear(config.n_emb, latent, bias=False))
        self.norm = self.add("norm", LayerNorm(latent))  # DeepSeek-V2 normalises the latent (RMSNorm there)
        self.up = self.add("up", Linear(latent, 2 * config.head_size, bias=False))
        self.attend = self.add("attend", CausalAttention.of(config))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q = ops.split_heads(self.q.forward(x), self.n_heads)  # (B, H, T, d_k)
        latent = self.norm.forward(self.down.forward(x))  # (B, T, kv_latent)
        if cache is not None:  # (B, pos + T, kv_latent): the only thing cached
            latent = cache.extend("latent", latent)
        k, v = (ops.split_heads(part, self.n_heads) for part in np.split(self.up.forward(latent), 2, axis=-1))
        o = self.attend.forward(q, k, v)  # (B, H, T, d_k)
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)
        dlatent = self.up.backward(
            np.concatenate([ops.merge_heads(dk), ops.merge_heads(dv)], axis=-1)
        )  # (B, T, kv_latent)
        return self.q.backward(ops.merge_heads(dq)) + self.down.backward(self.norm.backward(dlatent))


@littlebaby.hookimpl
def register_attentions(register):
    register("mla", MultiHeadLatentAttention)
