"""Dense mixture of experts, as the original notebook's `moe`.

n_experts MLPs (n_emb -> 4 n_emb -> GELU -> n_emb) all run on every token and
are mixed by a per-token softmax gate (n_emb -> n_experts, no bias):
y = sum_e gate_e * (GELU(x U_e + a_e) D_e + b_e).

The experts are stacked so the whole layer is two GEMMs: x @ U with U viewed
as (n_emb, E*F), and (gate-weighted hidden) @ D with D viewed as (E*F, n_emb).
"""

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import Dropout, Linear, ops, positive


@attrs.frozen(kw_only=True)
class MoEOptions:
    n_experts: int = attrs.field(default=4, validator=positive)  # experts mixed per token


class MixtureOfExperts(littlebaby.Block):
    Options = MoEOptions

    @classmethod
    def parameter_formula(cls, config, options):
        H, E = config.n_emb, options.n_experts
        return "H*E + E*(8H^2 + 5H) (gate, E experts of H -> 4H -> H)", H * E + E * (8 * H * H + 5 * H)

    @classmethod
    def activation_floats(cls, config, options):
        """Per token: every expert's hidden layer three times (before, after GELU, gate-weighted)."""
        E, C = options.n_experts, config.n_emb
        return 3 * E * 4 * C + 2 * E + 3 * C

    @classmethod
    def from_original(cls, weights, prefix, config, options):
        expansion = weights.value(prefix + "moe_expansion", 4)
        if expansion != 4:
            raise littlebaby.UserError(
                f"the original model uses moe expansion {expansion}", "littlebaby's moe expands 4x; only those import"
            )
        C, experts = config.n_emb, range(options.n_experts)
        expert = f"{prefix}moe_expert_"  # the notebook keeps one MLP per expert; ours are stacked, see _stacked
        return {
            "gate.weight": weights(f"{prefix}moe_g_weight"),
            "up.weight": np.stack([weights(f"{expert}{e}_up_weight") for e in experts], axis=1),  # (C, E, F)
            "up.bias": np.stack([weights.bias(f"{expert}{e}_up_bias", 4 * C) for e in experts]),  # (E, F)
            "down.weight": np.stack([weights(f"{expert}{e}_dn_weight") for e in experts]),  # (E, F, C)
            "down.bias": np.stack([weights.bias(f"{expert}{e}_dn_bias", C) for e in experts]),  # (E, C)
        }

    def __init__(self, config, options=None):
        super().__init__(config, options or MoEOptions())
        E, C, F = self.options.n_experts, config.n_emb, 4 * config.n_emb
        self.shape = (E, C, F)
        self.gate = self.add("gate", Linear(C, E, bias=False))
        self.parameter("up.weight", (C, E, F))
        self.parameter("up.bias", (E, F), init="zeros", decay=False)  # biases never decay, even stacked
        self.parameter("down.weight", (E, F, C), init="residual")
        self.parameter("down.bias", (E, C), init="zeros", decay=False)
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def _stacked(self, store):
        E, C, F = self.shape
        return (
            store["up.weight"].reshape(C, E * F),
            store["up.bias"].reshape(E * F),
            store["down.weight"].reshape(E * F, C),
            store["down.bias"],
        )

    def forward(self, x, cache=None):  # x (B, T, C)
        E, C, F = self.shape
        up_w, up_b, down_w, down_b = self._stacked(self.params)
        gate = ops.softmax_forward(self.gate.forward(x)).reshape(-1, E)  # (N, E)
        self.observe("gate", gate.reshape(*x.shape[:-1], E))
        hidden, derivative = ops.gelu_forward(ops.linear_forward(x.reshape(-1, C), up_w, up_b))  # (N, E*F)
        weighted = (hidden.reshape(-1, E, F) * gate[:, :, None]).reshape(-1, E * F)
        y = ops.linear_forward(weighted, down_w) + gate @ down_b  # (N, C)
        self.saved = (x, gate, hidden, derivative, weighted)
        return self.dropout.forward(y.reshape(x.shape))

    def backward(self, dy):  # dy (B, T, C)
        E, C, F = self.shape
        x, gate, hidden, derivative, weighted = self.saved
        up_w, up_b, down_w, down_b = self._stacked(self.params)
        dup_w, dup_b, ddown_w, ddown_b = self._stacked(self.grads)
        dy = self.dropout.backward(dy).reshape(-1, C)  # (N, C)
        dweighted = ops.linear_backward(dy, weighted, down_w, ddown_w)  # (N, E*F)
        ddown_b += gate.T @ dy
        dweighted = dweighted.reshape(-1, E, F)
        # each expert's output is hidden_e @ D_e + b_e; its gate gradient is dy . output_e
        # einsum: no (N, E, F) temporary, as multiply then sum would make
        dgate = np.einsum("nef,nef->ne", dweighted, hidden.reshape(-1, E, F)) + dy @ down_b.T  # (N, E)
        dweighted *= gate[:, :, None]  # now d hidden, in place
        dhidden = ops.gelu_backward(dweighted.reshape(-1, E * F), derivative)
        dx = ops.linear_backward(dhidden, x.reshape(-1, C), up_w, dup_w, dup_b)
        dx += self.gate.backward(ops.softmax_backward(dgate, gate).reshape(*x.shape[:-1], E)).reshape(-1, C)
        return dx.reshape(x.shape)


@littlebaby.hookimpl
def register_networks(register):
    register("moe", MixtureOfExperts)
