"""Causal multi-head attention, as the original notebook's `mha`.

q, k, v: n_emb -> head_size (one fused GEMM; a bias with `qkv_bias`, as GPT-2), split into
n_heads heads of d_k = head_size / n_heads; concatenated head outputs -> n_emb (a bias unless
`bias: false`). GPT-2's attention is this block: `hugging_face` names its tensors there.
The KV cache keeps k and v: 2 * head_size numbers per token per layer.
"""

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, NoPositions, ops


class MultiHeadAttention(littlebaby.Block):
    @classmethod
    def parameter_formula(cls, config, options):
        H, A = config.n_emb, config.head_size
        qkv_bias, bias = 3 * A * config.qkv_bias, H * config.bias
        return f"4HA{' + 3A' * config.qkv_bias}{' + H' * config.bias} (q, k, v, projection, biases)", (
            4 * H * A + qkv_bias + bias
        )

    @classmethod
    def hugging_face(cls, family, config, options):
        """Our tensors -> (the family's name within a layer, whether it is stored transposed), or q, k and v's."""
        if family == "llama":  # separate nn.Linear q, k, v: our fused weight's column blocks; no biases
            A = config.head_size
            attention = "self_attn."
            qkv = [(f"{attention}{part}_proj.weight", A) for part in "qkv"]
            return {"qkv.weight": qkv, "proj.weight": (f"{attention}o_proj.weight", True)}
        if family != "gpt2":
            return None
        names = {"qkv": "attn.c_attn", "proj": "attn.c_proj"}  # Conv1D: (in, out), as ours
        present = [("qkv", "weight"), ("proj", "weight")] + [("qkv", "bias")] * config.qkv_bias
        present += [("proj", "bias")] * config.bias
        return {f"{ours}.{part}": (f"{names[ours]}.{part}", False) for ours, part in present}

    @classmethod
    def from_original(cls, weights, prefix, config, options):
        old = prefix + "mha_"  # separate q, k, v weights: our fused weight's column blocks; c_* projects
        qkv = weights.columns(f"{old}{part}_weight" for part in "qkv")
        proj = {"proj.weight": weights(old + "c_weight"), "proj.bias": weights.bias(old + "c_bias", config.n_emb)}
        return {"qkv.weight": qkv, **proj}

    def __init__(self, config, options=None, position=None):
        super().__init__(config, options)
        self.n_heads = config.n_heads
        self.position = self.add("position", position or NoPositions(config))  # rope rotates q and k
        # one fused q/k/v weight: one larger GEMM runs faster than three smaller ones
        self.qkv = self.add("qkv", Linear(config.n_emb, 3 * config.head_size, bias=config.qkv_bias))
        self.attend = self.add("attend", CausalAttention.of(config))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, bias=config.bias, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k, v = ops.split_qkv(self.qkv.forward(x), self.n_heads)
        q, k = self.position.place(q, k, cache)
        if cache is not None:  # (B, H, pos + T, d_k)
            k, v = cache.extend("k", k), cache.extend("v", v)
        o = self.attend.forward(q, k, v)  # (B, H, T, d_k)
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)
        dq, dk = self.position.place_backward(dq, dk)
        return self.qkv.backward(ops.merge_qkv(dq, dk, dv))


@littlebaby.hookimpl
def register_attentions(register):
    register("mha", MultiHeadAttention)
