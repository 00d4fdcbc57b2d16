"""GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

import math

import numpy as np

C = math.sqrt(2.0 / math.pi)
A = 0.044715
# Elements per chunk: keeps the intermediates in cache (+10% on a step without it). Counted in
# elements, not rows, so moe's 4x wider hidden layer gets short chunks too (its GELU: 9.9 -> 5.8 ms).
CHUNK_ELEMENTS = 32768


def gelu_forward(x):
    """x (..., F) -> (y, derivative), both shaped like x; backward needs only the derivative."""
    x2 = x.reshape(-1, x.shape[-1])
    y = np.empty_like(x2)
    derivative = np.empty_like(x2)
    chunk_rows = max(1, CHUNK_ELEMENTS // x2.shape[1])
    for start in range(0, x2.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        h = x2[rows]
        h2 = h * h
        t = np.tanh(C * h * (1.0 + A * h2))
        half_h = 0.5 * h
        # d/dh = 0.5 (1 + t) + 0.5 h (1 - t^2) C (1 + 3 A h^2)
        d = derivative[rows]
        np.multiply(t, t, out=d)
        np.subtract(1.0, d, out=d)
        d *= half_h
        d *= C * (1.0 + 3.0 * A * h2)
        t += 1.0
        d += 0.5 * t
        np.multiply(half_h, t, out=y[rows])
    return y.reshape(x.shape), derivative.reshape(x.shape)


def gelu_backward(dy, derivative):
    """dy (..., F) -> dx (..., F)."""
    return dy * derivative
