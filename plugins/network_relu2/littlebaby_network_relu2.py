"""Feed-forward network with a squared ReLU (So et al.'s Primer; the modded-nanogpt speedrun's):
n_emb -> 4 n_emb -> max(x, 0)^2 -> n_emb. The square is cheaper than GELU and, in the speedrun, learned
faster; its derivative is 2 max(x, 0), kept from the forward pass.
"""

import numpy as np

import littlebaby
from littlebaby.nn import FeedForward


class ReLU2(FeedForward):
    def forward(self, x, cache=None):  # x (B, T, n_emb)
        positive = np.maximum(self.up.forward(x), 0.0)  # (B, T, 4 n_emb)
        self.saved = positive
        return self.dropout.forward(self.down.forward(positive * positive))

    def backward(self, dy):  # dy (B, T, n_emb)
        dhidden = self.down.backward(self.dropout.backward(dy))
        return self.up.backward(dhidden * (2.0 * self.saved))  # d(max(x, 0)^2)/dx = 2 max(x, 0)


@littlebaby.hookimpl
def register_networks(register):
    register("relu2", ReLU2)
