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
    # With p = (1 + tanh u) / 2, u = C h (1 + A h^2): y = h p and, as 1 - tanh^2 u = 4 p (1 - p),
    # dy/dh = p + 2 y (1 - p) C (1 + 3 A h^2). In place in two scratch chunks: 14 passes, no temporaries (-33%).
    x2 = x.reshape(-1, x.shape[-1])
    y = np.empty_like(x2)
    derivative = np.empty_like(x2)
    chunk_rows = max(1, CHUNK_ELEMENTS // x2.shape[1])
    square = np.empty((min(chunk_rows, x2.shape[0]), x2.shape[1]), dtype=x2.dtype)
    p = np.empty_like(square)
    for start in range(0, x2.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        h, y_rows, d = x2[rows], y[rows], derivative[rows]
        h2, pr = square[: h.shape[0]], p[: h.shape[0]]
        np.multiply(h, h, out=h2)
        np.multiply(h2, C * A, out=pr)
        pr += C
        pr *= h
        np.tanh(pr, out=pr)
        pr *= 0.5
        pr += 0.5
        np.multiply(h, pr, out=y_rows)
        np.subtract(1.0, pr, out=d)
        d *= y_rows
        h2 *= 6.0 * C * A
        h2 += 2.0 * C
        d *= h2
        d += pr
    return y.reshape(x.shape), derivative.reshape(x.shape)


def gelu_backward(dy, derivative):
    """dy (..., F) -> dx (..., F)."""
    return dy * derivative
