"""Layer normalisation over the last axis (eps 1e-5, biased variance)."""

import numpy as np

from littlebaby.ops.reduce import column_sum, row_mean

EPS = 1e-5


def layernorm_forward(x, weight, bias, eps=EPS):
    """x (..., C) -> y (..., C); saved = (x_hat (N, C), rstd (N,))."""
    x2 = x.reshape(-1, x.shape[-1])
    centered = x2 - row_mean(x2)[:, None]
    rstd = 1.0 / np.sqrt(row_mean(centered * centered) + eps)
    x_hat = centered
    x_hat *= rstd[:, None]
    y = x_hat * weight
    y += bias
    return y.reshape(x.shape), (x_hat, rstd)


def layernorm_backward(dy, saved, weight, dweight, dbias):
    """dy (..., C) -> dx (..., C); accumulates into dweight, dbias (C,)."""
    x_hat, rstd = saved
    dy2 = dy.reshape(-1, dy.shape[-1])
    C = dy2.shape[1]
    dy_x_hat = dy2 * x_hat
    dweight += column_sum(dy_x_hat)
    dbias += column_sum(dy2)
    # dx = rstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)), dx_hat = dy * weight;
    # both means are GEMVs with weight (mean(dx_hat * x_hat) = (dy * x_hat) @ weight / C): two passes fewer
    mean_dx_hat = (dy2 @ weight) * (1.0 / C)
    mean_dx_hat_x_hat = (dy_x_hat @ weight) * (1.0 / C)
    dx = dy2 * weight
    dx -= mean_dx_hat[:, None]
    np.multiply(x_hat, mean_dx_hat_x_hat[:, None], out=dy_x_hat)
    dx -= dy_x_hat
    dx *= rstd[:, None]
    return dx.reshape(dy.shape)
