"""Causal multi-head attention, as the original notebook's `mha`.

q, k, v: n_emb -> head_size (no bias, one fused GEMM), split into n_heads heads
of d_k = head_size / n_heads; concatenated head outputs -> n_emb with bias.
The KV cache keeps k and v: 2 * head_size numbers per token per layer.
"""

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, ops


class MultiHeadAttention(littlebaby.Block):
    @classmethod
    def parameter_formula(cls, config, options):
        H, A = config.n_emb, config.head_size
        return "4HA + H (q, k, v, projection and its bias)", 4 * H * A + H

    @classmethod
    def from_original(cls, weights, prefix, config, options):
        old = prefix + "mha_"  # separate q, k, v weights: our fused weight's column blocks; c_* projects
        qkv = weights.columns(f"{old}{part}_weight" for part in "qkv")
        proj = {"proj.weight": weights(old + "c_weight"), "proj.bias": weights.bias(old + "c_bias", config.n_emb)}
        return {"qkv.weight": qkv, **proj}

    def __init__(self, config, options=None):
        super().__init__(config, options)
        self.n_heads = config.n_heads
        # one fused q/k/v weight: one larger GEMM runs faster than three smaller ones
        self.qkv = self.add("qkv", Linear(config.n_emb, 3 * config.head_size, bias=False))
        self.attend = self.add("attend", CausalAttention(config.dropout))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k, v = ops.split_qkv(self.qkv.forward(x), self.n_heads)
        if cache is not None:  # (B, H, pos + T, d_k)
            k, v = cache.extend("k", k), cache.extend("v", v)
        o = self.attend.forward(q, k, v)  # (B, H, T, d_k)
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)
        return self.qkv.backward(ops.merge_qkv(dq, dk, dv))


@littlebaby.hookimpl
def register_attentions(register):
    register("mha", MultiHeadAttention)
