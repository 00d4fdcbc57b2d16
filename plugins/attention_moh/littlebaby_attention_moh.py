"""Mixture of heads, as the original notebook's `moh`.

Heads are computed as in multi-head attention, then mixed per token by a
softmax gate (n_emb -> n_heads, no bias) instead of concatenated:
y = sum_h gate_h * o_h (d_k wide), projected d_k -> n_emb with bias.
"""

import numpy as np

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, NoPositions, ops


class MixtureOfHeads(littlebaby.Block):
    @classmethod
    def parameter_formula(cls, config, options):
        H, A, n, d = config.n_emb, config.head_size, config.n_heads, config.d_k
        return "3HA + H*n_heads + d_k*H + H (q, k, v, gate, projection and its bias)", 3 * H * A + H * n + d * H + H

    @classmethod
    def from_original(cls, weights, prefix, config, options):
        # q, k, v as mha's (column blocks of our fused weight); m_* projects, g_* gates
        old = prefix + "moh_"
        return {
            "qkv.weight": weights.columns(f"{old}{part}_weight" for part in "qkv"),
            "gate.weight": weights(old + "g_weight"),
            "proj.weight": weights(old + "m_weight"),
            "proj.bias": weights.bias(old + "m_bias", config.n_emb),
        }

    def __init__(self, config, options=None, position=None):
        super().__init__(config, options)
        self.n_heads = config.n_heads
        self.position = self.add("position", position or NoPositions(config))
        self.qkv = self.add("qkv", Linear(config.n_emb, 3 * config.head_size, bias=False))
        self.attend = self.add("attend", CausalAttention.of(config))
        self.gate = self.add("gate", Linear(config.n_emb, config.n_heads, bias=False))
        self.proj = self.add("proj", Linear(config.d_k, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k, v = ops.split_qkv(self.qkv.forward(x), self.n_heads)
        q, k = self.position.place(q, k, cache)
        if cache is not None:
            k, v = cache.extend("k", k), cache.extend("v", v)
        heads = self.attend.forward(q, k, v).transpose(0, 2, 1, 3)  # (B, T, H, d_k)
        gate = ops.softmax_forward(self.gate.forward(x))  # (B, T, H)
        self.observe("gate", gate)
        mixed = np.einsum("bth,bthd->btd", gate, heads)  # (B, T, d_k)
        self.saved = (gate, heads)
        return self.dropout.forward(self.proj.forward(mixed))

    def backward(self, dy):  # dy (B, T, n_emb)
        gate, heads = self.saved
        dmixed = self.proj.backward(self.dropout.backward(dy))  # (B, T, d_k)
        dgate = np.einsum("btd,bthd->bth", dmixed, heads)
        dheads = gate[..., None] * dmixed[:, :, None, :]  # (B, T, H, d_k)
        dx = self.gate.backward(ops.softmax_backward(dgate, gate))
        dq, dk, dv = self.attend.backward(dheads.transpose(0, 2, 1, 3))
        dq, dk = self.position.place_backward(dq, dk)
        dx += self.qkv.backward(ops.merge_qkv(dq, dk, dv))
        return dx


@littlebaby.hookimpl
def register_attentions(register):
    register("moh", MixtureOfHeads)
