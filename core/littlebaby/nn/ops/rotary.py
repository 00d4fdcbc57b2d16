"""Rotary position embedding (RoPE, Su et al. 2021): rotate pairs of a head's features by angles
that grow with the position, so q . k depends on the positions only through their difference.

A head of width d is split in halves: feature i is paired with feature i + d // 2 (the GPT-NeoX
layout: two slices, no strided gathers) and the pair is rotated by position * base^(-2i / r),
r = 2 (d // 2) the rotated width. With an odd d the last feature is left as it is (with d = 1 the
rotation is the identity). A rotation is orthogonal, so backward is the inverse rotation: the same
map with the sine negated.
"""

import numpy as np


def rotary_tables(positions, d: int, base: float = 10000.0, dtype=np.float64):
    """positions (T,) int -> cos, sin (T, d // 2) in dtype; angles computed in float64 (far positions stay exact)."""
    half = d // 2
    inverse_frequency = base ** (-np.arange(half, dtype=np.float64) * 2.0 / max(2 * half, 1))
    angles = np.outer(np.asarray(positions, dtype=np.float64), inverse_frequency)  # (T, d // 2)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def rotary_forward(x, cos, sin):
    """x (..., T, d) -> y (..., T, d): pair (x_i, x_{i + d//2}) rotated by the angle of its position."""
    half = cos.shape[-1]
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    y = np.empty_like(x)
    y[..., :half] = x1 * cos - x2 * sin
    y[..., half : 2 * half] = x1 * sin + x2 * cos
    y[..., 2 * half :] = x[..., 2 * half :]  # an odd width's last feature: not rotated
    return y


def rotary_backward(dy, cos, sin):
    """dy (..., T, d) -> dx (..., T, d): the transpose of a rotation is the rotation by minus the angle."""
    return rotary_forward(dy, cos, -sin)
