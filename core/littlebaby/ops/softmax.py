"""Softmax along an axis and its backward."""

import numpy as np


def softmax_forward(x, axis=-1):
    """Numerically stable softmax; returns a new array shaped like x."""
    y = x - x.max(axis=axis, keepdims=True)
    np.exp(y, out=y)
    y /= y.sum(axis=axis, keepdims=True)
    return y


def softmax_backward(dy, y, axis=-1):
    """dx = y * (dy - sum(dy * y)) along the axis."""
    dx = dy * y
    total = dx.sum(axis=axis, keepdims=True)
    np.subtract(dy, total, out=dx)  # reuses dx: one temporary fewer than dx -= y * total
    dx *= y
    return dx
