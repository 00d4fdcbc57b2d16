"""Feed-forward network, as the original notebook's `mlp`: n_emb -> 4 n_emb -> GELU -> n_emb."""

import littlebaby
from littlebaby.nn import FeedForward, ops


class MLP(FeedForward):
    @classmethod
    def hugging_face(cls, family, config, options):
        """Our tensors -> (the family's name within a layer, whether it is stored transposed)."""
        if family != "gpt2":
            return None
        parts = ("weight", "bias") if config.bias else ("weight",)
        names = {"up": "mlp.c_fc", "down": "mlp.c_proj"}  # Conv1D: (in, out), as ours; GELU's tanh form, as ours
        return {f"{ours}.{part}": (f"{theirs}.{part}", False) for ours, theirs in names.items() for part in parts}

    @classmethod
    def from_original(cls, weights, prefix, config, options):
        sizes = {"up": 4 * config.n_emb, "down": config.n_emb}  # output widths, for biases saved as null
        mapped = {}
        for ours, theirs in (("up", "proj_up"), ("down", "proj_dn")):
            mapped[f"{ours}.weight"] = weights(f"{prefix}mlp_{theirs}_weight")
            mapped[f"{ours}.bias"] = weights.bias(f"{prefix}mlp_{theirs}_bias", sizes[ours])
        return mapped

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        gelu_input = self.up.forward(x)  # (B, T, 4 n_emb)
        if self.training:  # a backward follows: GELU's derivative comes out of the same passes
            hidden, derivative = ops.gelu_forward(gelu_input)
            self.saved = (derivative, None)
        else:  # generation, evaluation: the value alone; a backward in eval mode derives it then
            hidden = ops.gelu_value(gelu_input)
            self.saved = (None, gelu_input)
        return self.dropout.forward(self.down.forward(hidden))

    def backward(self, dy):  # dy (B, T, n_emb)
        derivative, gelu_input = self.saved
        if derivative is None:
            derivative = ops.gelu_forward(gelu_input)[1]
        dhidden = self.down.backward(self.dropout.backward(dy))
        return self.up.backward(ops.gelu_backward(dhidden, derivative))


@littlebaby.hookimpl
def register_networks(register):
    register("mlp", MLP)
