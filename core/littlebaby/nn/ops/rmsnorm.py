"""RMS normalisation over the last axis (Zhang and Sennrich 2019): no mean, no bias, eps 1e-5.

y = x / sqrt(mean(x^2) + eps) * weight; with weight None, no gain (QK-norm's).
"""

import numpy as np

from littlebaby.nn.ops.reduce import column_sum, row_mean

EPS = 1e-5


def rmsnorm_forward(x, weight, eps=EPS):
    """x (..., C) -> y (..., C); saved = (x_hat (N, C), rstd (N,))."""
    x2 = x.reshape(-1, x.shape[-1])
    rstd = 1.0 / np.sqrt(row_mean(x2 * x2) + eps)
    x_hat = x2 * rstd[:, None]
    return (x_hat if weight is None else x_hat * weight).reshape(x.shape), (x_hat, rstd)


def rmsnorm_backward(dy, saved, weight, dweight=None):
    """dy (..., C) -> dx (..., C); accumulates into dweight (C,) (neither, with weight None)."""
    x_hat, rstd = saved
    dy2 = dy.reshape(-1, dy.shape[-1])
    if weight is not None:
        dweight += column_sum(dy2 * x_hat)
    # layer norm's backward without the mean term: dx = rstd * (dx_hat - x_hat * mean(dx_hat * x_hat))
    dx_hat = dy2 if weight is None else dy2 * weight
    dx = (dx_hat - x_hat * row_mean(dx_hat * x_hat)[:, None]) * rstd[:, None]
    return dx.reshape(dy.shape)
