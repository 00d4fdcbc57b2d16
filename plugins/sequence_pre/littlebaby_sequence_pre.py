"""Pre-norm wiring (GPT-2): h = x + att(ln1(x)); y = h + net(ln2(h))."""

import littlebaby
from littlebaby.nn import LayerNorm


class PreNorm(littlebaby.Block):
    @classmethod
    def parameter_formula(cls, config, options):
        return "4H (two LayerNorms)", 4 * config.n_emb

    @classmethod
    def from_original(cls, weights, prefix, config, options):  # its children map their own keys
        names = (("weight", "gamma"), ("bias", "beta"))  # ours, the notebook's
        return {f"ln{n}.{ours}": weights(f"{prefix}ln{n}_{theirs}") for n in (1, 2) for ours, theirs in names}

    @classmethod
    def hugging_face(cls, family, config, options):
        """Our tensors -> (the family's name within a layer, whether it is stored transposed)."""
        if family != "gpt2":
            return None
        return {f"ln{n}.{part}": (f"ln_{n}.{part}", False) for n in (1, 2) for part in ("weight", "bias")}

    def __init__(self, config, options=None, *, attention, network):
        super().__init__(config, options)
        self.ln1 = self.add("ln1", LayerNorm(config.n_emb, config.norm_eps))
        self.attention = self.add("attention", attention)
        self.ln2 = self.add("ln2", LayerNorm(config.n_emb, config.norm_eps))
        self.network = self.add("network", network)

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        h = x + self.attention.forward(self.ln1.forward(x), cache)
        return h + self.network.forward(self.ln2.forward(h))

    def backward(self, dy):  # dy (B, T, n_emb)
        dh = dy + self.ln2.backward(self.network.backward(dy))
        return dh + self.ln1.backward(self.attention.backward(dh))


@littlebaby.hookimpl
def register_sequences(register):
    register("pre", PreNorm)
