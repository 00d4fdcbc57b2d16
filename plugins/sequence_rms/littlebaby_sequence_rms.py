"""Pre-norm wiring with RMSNorm (as LLaMA): h = x + att(rms1(x)); y = h + net(rms2(h)).

RMSNorm divides by the root mean square and scales: no mean subtracted, no bias
(`littlebaby.nn.layers.RMSNorm`). A model of these blocks ends with an RMSNorm too
(`final_norm`), so it normalises one way throughout.
"""

import littlebaby
from littlebaby.nn import RMSNorm


class RMSPreNorm(littlebaby.Block):
    @classmethod
    def parameter_formula(cls, config, options):
        return "2H (two RMSNorm weights)", 2 * config.n_emb

    @classmethod
    def hugging_face(cls, family, config, options):
        """Llama's two norms of a layer."""
        if family != "llama":
            return None
        return {
            "norm1.weight": ("input_layernorm.weight", False),
            "norm2.weight": ("post_attention_layernorm.weight", False),
        }

    @classmethod
    def final_norm(cls, n_emb):
        return RMSNorm(n_emb)

    def __init__(self, config, options=None, *, attention, network):
        super().__init__(config, options)
        self.norm1 = self.add("norm1", RMSNorm(config.n_emb, config.norm_eps))
        self.attention = self.add("attention", attention)
        self.norm2 = self.add("norm2", RMSNorm(config.n_emb, config.norm_eps))
        self.network = self.add("network", network)

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        h = x + self.attention.forward(self.norm1.forward(x), cache)
        return h + self.network.forward(self.norm2.forward(h))

    def backward(self, dy):  # dy (B, T, n_emb)
        dh = dy + self.norm2.backward(self.network.backward(dy))
        return dh + self.norm1.backward(self.attention.backward(dh))


@littlebaby.hookimpl
def register_sequences(register):
    register("rms", RMSPreNorm)
