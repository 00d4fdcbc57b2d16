"""The position-wise network most blocks share: n_emb -> 4 n_emb -> an activation -> n_emb.

`FeedForward` holds the two Linear layers (`up`, `down`, the latter initialised as a residual projection)
and the dropout after them, and states their parameter count; a network block subclasses it and writes
its forward and backward around its own activation (mlp: GELU, relu2: max(x, 0)^2).
"""

from littlebaby.nn.block import Block
from littlebaby.nn.layers import Dropout, Linear


class FeedForward(Block):
    @classmethod
    def parameter_formula(cls, config, options):
        H = config.n_emb
        if not config.bias:
            return "8H^2 (H -> 4H -> H)", 8 * H * H
        return "8H^2 + 5H (H -> 4H -> H with biases)", 8 * H * H + 5 * H

    def __init__(self, config, options=None):
        super().__init__(config, options)
        self.up = self.add("up", Linear(config.n_emb, 4 * config.n_emb, bias=config.bias))
        self.down = self.add("down", Linear(4 * config.n_emb, config.n_emb, bias=config.bias, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))
