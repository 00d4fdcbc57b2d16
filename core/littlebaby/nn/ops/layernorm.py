"""Layer normalisation over the last axis (eps 1e-5, biased variance)."""

import math

import numpy as np

from littlebaby.nn.ops.reduce import column_sum, row_mean

EPS = 1e-5


def layernorm_forward_reference(x, weight, bias, eps=EPS):
    """x (..., C) -> y (..., C), saved = (x_hat (N, C), rstd (N,)) as layernorm_forward returns them."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(variance + eps)  # reciprocal standard deviation, (..., 1)
    x_hat = (x - mean) * rstd  # each row: mean 0, variance 1
    return x_hat * weight + bias, (x_hat.reshape(-1, x.shape[-1]), rstd.reshape(-1))


def layernorm_backward_reference(dy, saved, weight, dweight, dbias):
    """dy (..., C) -> dx (..., C); accumulates into dweight, dbias (C,)."""
    x_hat, rstd = saved  # (N, C), (N,)
    dy2 = dy.reshape(-1, dy.shape[-1])
    dweight += (dy2 * x_hat).sum(axis=0)
    dbias += dy2.sum(axis=0)
    # x_hat depends on every x in its row through the mean and rstd, hence the two subtracted means
    dx_hat = dy2 * weight
    mean_dx_hat = dx_hat.mean(axis=-1, keepdims=True)
    mean_dx_hat_x_hat = (dx_hat * x_hat).mean(axis=-1, keepdims=True)
    dx = rstd[:, None] * (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat)
    return dx.reshape(dy.shape)


def layernorm_forward(x, weight, bias, eps=EPS):
    """x (..., C) -> y (..., C); saved = (x_hat (N, C), rstd (N,))."""
    if x.size == x.shape[-1]:
        return _one_row(x, weight, bias, eps)
    x2 = x.reshape(-1, x.shape[-1])
    centered = x2 - row_mean(x2)[:, None]
    rstd = 1.0 / np.sqrt(row_mean(centered * centered) + eps)
    x_hat = centered
    x_hat *= rstd[:, None]
    y = x_hat * weight[None]  # (1, C) rows, not (C,) vectors: see linear_forward
    y += bias[None]
    return y.reshape(x.shape), (x_hat, rstd)


def _one_row(x, weight, bias, eps):
    """layernorm_forward of a single row (a generated token): half the NumPy calls, each of
    which costs more than a row's arithmetic; the variance goes through Python floats."""
    width = x.shape[-1]
    row = x.reshape(width)
    x_hat = row - np.add.reduce(row) / width
    rstd = 1.0 / math.sqrt(float(x_hat @ x_hat) / width + eps)
    x_hat *= rstd
    y = x_hat * weight
    y += bias
    return y.reshape(x.shape), (x_hat.reshape(1, width), np.array((rstd,), dtype=x.dtype))


def layernorm_backward(dy, saved, weight, dweight, dbias):
    """dy (..., C) -> dx (..., C); accumulates into dweight, dbias (C,)."""
    x_hat, rstd = saved
    dy2 = dy.reshape(-1, dy.shape[-1])
    width = dy2.shape[1]
    dy_x_hat = dy2 * x_hat
    dweight += column_sum(dy_x_hat)
    dbias += column_sum(dy2)
    # layernorm_backward_reference's formula with both means as GEMVs with weight, since
    # mean(dx_hat) = dy @ weight / C and mean(dx_hat * x_hat) = (dy * x_hat) @ weight / C:
    # two passes over (N, C) fewer, and dy * x_hat is shared with dweight.
    mean_dx_hat = (dy2 @ weight) * (1.0 / width)
    mean_dx_hat_x_hat = (dy_x_hat @ weight) * (1.0 / width)
    dx = dy2 * weight
    dx -= mean_dx_hat[:, None]
    np.multiply(x_hat, mean_dx_hat_x_hat[:, None], out=dy_x_hat)
    dx -= dy_x_hat
    dx *= rstd[:, None]
    return dx.reshape(dy.shape)
