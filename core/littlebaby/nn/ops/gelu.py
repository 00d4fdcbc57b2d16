"""GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

import math

import numpy as np

TANH_SCALE = math.sqrt(2.0 / math.pi)
CUBIC = 0.044715


def gelu_forward_reference(x):
    """x (..., F) -> (y, derivative) as gelu_forward returns them, straight from the formula."""
    u = TANH_SCALE * (x + CUBIC * x**3)
    y = 0.5 * x * (1.0 + np.tanh(u))
    return y, gelu_backward_reference(np.ones_like(x), x)


def gelu_backward_reference(dy, x):
    """dy, x (..., F) -> dx. Takes the INPUT x, not the saved derivative, so the chain rule shows."""
    # d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx,
    # du/dx = TANH_SCALE (1 + 3 CUBIC x^2)
    t = np.tanh(TANH_SCALE * (x + CUBIC * x**3))
    return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * TANH_SCALE * (1.0 + 3.0 * CUBIC * x * x))


# Elements per chunk, so the two scratch chunks stay in cache. Counted in elements, not rows,
# so moe's 4x wider hidden layer gets short chunks too.
CHUNK_ELEMENTS = 32768


def gelu_forward(x):
    """x (..., F) -> (y, derivative), both shaped like x; backward needs only the derivative."""
    # With gate = (1 + tanh u) / 2, u = TANH_SCALE x (1 + CUBIC x^2): y = x gate and, as
    # 1 - tanh^2 u = 4 gate (1 - gate), dy/dx = gate + 2 y (1 - gate) TANH_SCALE (1 + 3 CUBIC x^2).
    # Computed in place in two scratch chunks: 14 passes over memory, no temporaries.
    x2 = x.reshape(-1, x.shape[-1])
    y = np.empty_like(x2)
    derivative = np.empty_like(x2)
    chunk_rows = max(1, CHUNK_ELEMENTS // x2.shape[1])
    square_scratch = np.empty((min(chunk_rows, x2.shape[0]), x2.shape[1]), dtype=x2.dtype)
    gate_scratch = np.empty_like(square_scratch)
    for start in range(0, x2.shape[0], chunk_rows):
        rows = slice(start, start + chunk_rows)
        x_rows, y_rows, derivative_rows = x2[rows], y[rows], derivative[rows]
        squares, gate = square_scratch[: x_rows.shape[0]], gate_scratch[: x_rows.shape[0]]
        np.multiply(x_rows, x_rows, out=squares)
        np.multiply(squares, TANH_SCALE * CUBIC, out=gate)  # gate holds u, then tanh u, then the gate
        gate += TANH_SCALE
        gate *= x_rows
        np.tanh(gate, out=gate)
        gate *= 0.5
        gate += 0.5
        np.multiply(x_rows, gate, out=y_rows)
        np.subtract(1.0, gate, out=derivative_rows)
        derivative_rows *= y_rows
        squares *= 6.0 * TANH_SCALE * CUBIC  # squares becomes 2 du/dx
        squares += 2.0 * TANH_SCALE
        derivative_rows *= squares
        derivative_rows += gate
    return y.reshape(x.shape), derivative.reshape(x.shape)


def gelu_value(x):
    """x (..., F) -> y, the value alone (gelu_forward_reference's first two lines), for a forward
    that no backward follows: generation and evaluation."""
    # The formula's passes in place in one new array: no derivative, no scratch chunks and no chunk
    # loop, whose set-up dominates on the single row a cached generation step has.
    y = x * x
    y *= TANH_SCALE * CUBIC
    y += TANH_SCALE
    y *= x  # u
    np.tanh(y, out=y)
    y += 1.0
    y *= x
    y *= 0.5
    return y


def gelu_backward(dy, derivative):
    """dy (..., F) -> dx (..., F)."""
    return dy * derivative
