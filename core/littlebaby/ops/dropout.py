"""Inverted dropout: zero a fraction p, scale the rest by 1 / (1 - p)."""

import numpy as np


def dropout_mask(shape, p, rng, dtype):
    """The scaled keep-mask for one forward pass."""
    keep = rng.random(shape, dtype=np.float32 if dtype == np.float32 else np.float64) >= p
    return keep.astype(dtype) * (1.0 / (1.0 - p))


def dropout_forward(x, mask):
    return x if mask is None else x * mask


def dropout_backward(dy, mask):
    return dy if mask is None else dy * mask
