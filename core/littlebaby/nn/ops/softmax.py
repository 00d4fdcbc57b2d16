"""Softmax along an axis and its backward."""

import numpy as np


def softmax_forward(x, axis=-1):
    """Numerically stable softmax; returns a new array shaped like x."""
    # the ufuncs' own reductions: ndarray.max and .sum reach them through a Python wrapper, a cost
    # that shows on the few-element rows of cached generation (one query per head)
    y = x - np.maximum.reduce(x, axis=axis, keepdims=True)
    np.exp(y, out=y)
    y /= np.add.reduce(y, axis=axis, keepdims=True)
    return y


def softmax_backward(dy, y, axis=-1):
    """dx = y * (dy - sum(dy * y)) along the axis."""
    dx = dy * y
    total = dx.sum(axis=axis, keepdims=True)
    np.subtract(dy, total, out=dx)  # reuses dx: one temporary fewer than dx -= y * total
    dx *= y
    return dx
