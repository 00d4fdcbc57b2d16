"""What a block is built from: the block contract, the core layers and the ops, the GPT that stacks blocks.

Plugins import this one face:

    from littlebaby.nn import Block, CausalAttention, Dropout, Linear, ops, positive

block.py is the contract (`Block`, `Layer`); layers.py the layers that wrap one op each with its
parameters; feedforward.py the H -> 4H -> H network the network blocks share; ops/ each op's forward
and backward; gpt.py the model; position.py the position contract;
kv_cache.py and generation.py what generating a token needs; params.py the flat parameter buffer;
sizes.py the memory a model needs.
"""

from littlebaby.config import non_negative, positive, probability
from littlebaby.nn import ops
from littlebaby.nn.block import Block, Layer
from littlebaby.nn.feedforward import FeedForward
from littlebaby.nn.layers import CausalAttention, Dropout, Embedding, LayerNorm, Linear, RMSNorm
from littlebaby.nn.position import NoPositions, Position

__all__ = [
    "Block",
    "CausalAttention",
    "Dropout",
    "Embedding",
    "FeedForward",
    "LayerNorm",
    "Layer",
    "Linear",
    "NoPositions",
    "Position",
    "RMSNorm",
    "non_negative",
    "ops",
    "positive",
    "probability",
]
