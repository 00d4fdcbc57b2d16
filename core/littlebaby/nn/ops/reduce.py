"""Row means and column sums as matrix-vector products.

The plain formulas are `a.sum(axis=0)`, `a.sum(axis=1)` and `a.mean(axis=1)`
(the `_reference` functions below). On the (tokens, features) arrays of a
training step, BLAS's GEMV with a vector of ones computes the same sums faster
than NumPy's reductions; benchmarks/RESULTS.md has the measurement.
"""

import numpy as np


def column_sum_reference(a: np.ndarray) -> np.ndarray:
    """(N, C) -> (C,)."""
    return a.sum(axis=0)


def row_sum_reference(a: np.ndarray) -> np.ndarray:
    """(N, C) -> (N,)."""
    return a.sum(axis=1)


def row_mean_reference(a: np.ndarray) -> np.ndarray:
    """(N, C) -> (N,)."""
    return a.mean(axis=1)


_constants: dict = {}


def constant(n: int, value: float, dtype) -> np.ndarray:
    """A cached read-only vector of n copies of value."""
    key = (n, value, dtype)
    vector = _constants.get(key)
    if vector is None:
        vector = np.full(n, value, dtype=dtype)
        vector.flags.writeable = False
        _constants[key] = vector
    return vector


def ones(n: int, dtype) -> np.ndarray:
    """A cached read-only vector of n ones."""
    return constant(n, 1.0, dtype)


def column_sum(a: np.ndarray) -> np.ndarray:
    """(N, C) -> (C,): sum over rows."""
    return ones(a.shape[0], a.dtype) @ a


def row_sum(a: np.ndarray) -> np.ndarray:
    """(N, C) -> (N,): sum over columns."""
    return a @ ones(a.shape[1], a.dtype)


def row_mean(a: np.ndarray) -> np.ndarray:
    """(N, C) -> (N,): mean over columns."""
    # one GEMV with a vector of 1 / C: the mean without a second pass to scale the sums
    return a @ constant(a.shape[1], 1.0 / a.shape[1], a.dtype)
