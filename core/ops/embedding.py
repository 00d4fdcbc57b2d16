"""Embedding lookup: rows of a table picked by integer ids."""

import numpy as np


def embedding_forward(ids, weight):
    """ids (...) -> (..., C)."""
    return weight[ids]


def embedding_backward(dy, ids, dweight):
    """Accumulates dy (..., C) into the picked rows of dweight (V, C)."""
    np.add.at(dweight, ids.reshape(-1), dy.reshape(-1, dy.shape[-1]))
