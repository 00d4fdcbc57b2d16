"""SiLU (swish): y = x sigmoid(x), the gate of SwiGLU."""

import numpy as np


def silu_forward(x):
    """x (..., F) -> (y, derivative), both shaped like x; backward needs only the derivative."""
    # sigmoid through tanh: exact, and no overflow for large |x| as exp(-x) would give
    s = 0.5 * (1.0 + np.tanh(0.5 * x))
    y = x * s
    # d/dx x s(x) = s + x s (1 - s) = s + y (1 - s)
    return y, s + y * (1.0 - s)


def silu_backward(dy, derivative):
    """dy (..., F) -> dx (..., F)."""
    return dy * derivative
