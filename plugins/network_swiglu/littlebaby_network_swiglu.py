"""SwiGLU feed-forward network (Shazeer 2020, as in LLaMA): down(silu(x W1) * (x W3)).

W1 and W3 are one fused (n_emb, 2F) weight, one GEMM; no biases. The hidden width F is the
option `swiglu_hidden`; its default 0 means 8/3 n_emb rounded up to a multiple of 8, so the
three F-wide matrices hold about as many parameters as mlp's two 4 n_emb-wide ones
(3 H F ~ 8 H^2). It has no cache: like mlp it sees one position at a time.
"""

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import Dropout, Linear, non_negative, ops


@attrs.frozen(kw_only=True)
class SwiGLUOptions:
    swiglu_hidden: int = attrs.field(default=0, validator=non_negative)  # hidden width F; 0 = 8/3 n_emb rounded up to 8


def hidden_width(config, options) -> int:
    chosen = (options or SwiGLUOptions()).swiglu_hidden
    return chosen or -(-8 * config.n_emb // 24) * 8  # ceil(8 H / 3 / 8) * 8


class SwiGLU(littlebaby.Block):
    Options = SwiGLUOptions

    @classmethod
    def parameter_formula(cls, config, options):
        H, F = config.n_emb, hidden_width(config, options)
        return f"3HF (H -> 2F gate|value -> F -> H, no biases; F={F})", 3 * H * F

    @classmethod
    def hugging_face(cls, family, config, options):
        """Llama's gate and up (out, in) are our fused up's column blocks [W1 | W3]; its down is ours, transposed."""
        if family != "llama":
            return None
        F = hidden_width(config, options)
        return {
            "up.weight": [("mlp.gate_proj.weight", F), ("mlp.up_proj.weight", F)],
            "down.weight": ("mlp.down_proj.weight", True),
        }

    def __init__(self, config, options=None):
        super().__init__(config, options or SwiGLUOptions())
        self.hidden = hidden_width(config, self.options)
        self.up = self.add("up", Linear(config.n_emb, 2 * self.hidden, bias=False))  # [W1 | W3]
        self.down = self.add("down", Linear(self.hidden, config.n_emb, bias=False, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        gate, value = np.split(self.up.forward(x), 2, axis=-1)  # (B, T, F) each
        activated, derivative = ops.silu_forward(gate)
        self.saved = (value, activated, derivative)
        return self.dropout.forward(self.down.forward(activated * value))

    def backward(self, dy):  # dy (B, T, n_emb)
        value, activated, derivative = self.saved
        dhidden = self.down.backward(self.dropout.backward(dy))  # (B, T, F)
        dgate = ops.silu_backward(dhidden * value, derivative)
        return self.up.backward(np.concatenate([dgate, dhidden * activated], axis=-1))


@littlebaby.hookimpl
def register_networks(register):
    register("swiglu", SwiGLU)
