"""Embedding lookup: rows of a table picked by integer ids."""

import numpy as np


def embedding_forward(ids, weight):
    """ids (...) -> (..., C)."""
    return weight[ids]


def embedding_backward_reference(dy, ids, dweight):
    """Accumulates dy (..., C) into the picked rows of dweight (V, C): row ids[n] gets dy[n]."""
    # np.add.at, not dweight[ids] += dy: an id picked twice must receive both gradients
    np.add.at(dweight, ids.reshape(-1), dy.reshape(-1, dy.shape[-1]))


ONE_HOT_LIMIT = 1 << 22  # largest one-hot matrix (vocabulary x tokens) built; beyond it, the reference


def embedding_backward(dy, ids, dweight):
    """Accumulates dy (..., C) into the picked rows of dweight (V, C)."""
    flat, rows = ids.reshape(-1), dy.reshape(-1, dy.shape[-1])
    if dweight.shape[0] * flat.size > ONE_HOT_LIMIT:
        embedding_backward_reference(dy, ids, dweight)
        return
    # The same sum as one GEMM, one_hot (V, N) @ dy (N, C): np.add.at goes element by element, and
    # for a small (character) vocabulary the GEMM is much faster.
    one_hot = np.zeros((dweight.shape[0], flat.size), dtype=dy.dtype)
    one_hot[flat, np.arange(flat.size)] = 1.0
    dweight += one_hot @ rows
