"""Post-norm wiring (the original transformer): h = ln1(x + att(x)); y = ln2(h + net(h))."""

import littlebaby
from littlebaby.nn import LayerNorm


class PostNorm(littlebaby.Block):
    @classmethod
    def parameter_formula(cls, config, options):
        return "4H (two LayerNorms)", 4 * config.n_emb

    @classmethod
    def from_original(cls, weights, prefix, config, options):  # its children map their own keys
        names = (("weight", "gamma"), ("bias", "beta"))  # ours, the notebook's
        return {f"ln{n}.{ours}": weights(f"{prefix}ln{n}_{theirs}") for n in (1, 2) for ours, theirs in names}

    def __init__(self, config, options=None, *, attention, network):
        super().__init__(config, options)
        self.attention = self.add("attention", attention)
        self.ln1 = self.add("ln1", LayerNorm(config.n_emb, config.norm_eps))
        self.network = self.add("network", network)
        self.ln2 = self.add("ln2", LayerNorm(config.n_emb, config.norm_eps))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        h = self.ln1.forward(x + self.attention.forward(x, cache))
        return self.ln2.forward(h + self.network.forward(h))

    def backward(self, dy):  # dy (B, T, n_emb)
        dsum2 = self.ln2.backward(dy)
        dh = dsum2 + self.network.backward(dsum2)
        dsum1 = self.ln1.backward(dh)
        return dsum1 + self.attention.backward(dsum1)


@littlebaby.hookimpl
def register_sequences(register):
    register("post", PostNorm)
