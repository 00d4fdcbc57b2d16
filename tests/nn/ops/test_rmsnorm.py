"""ops/rmsnorm.py: finite-difference backward and the definition (no mean subtracted, no bias)."""

import numpy as np

from littlebaby.nn.ops.rmsnorm import rmsnorm_backward, rmsnorm_forward
from littlebaby.testing import numerical_gradient

rng = np.random.default_rng(0)


def test_backward_matches_finite_differences():
    x, w = rng.standard_normal((2, 3, 6)) * 3 + 1, rng.standard_normal(6) + 1
    probe = rng.standard_normal(x.shape)
    y, saved = rmsnorm_forward(x, w)
    dw = np.zeros_like(w)
    dx = rmsnorm_backward(probe, saved, w, dw)
    f = lambda: float(np.sum(rmsnorm_forward(x, w)[0] * probe))
    for array, analytic in ((x, dx), (w, dw)):
        numeric = numerical_gradient(f, array, np.arange(array.size))
        np.testing.assert_allclose(analytic.reshape(-1), numeric, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(y, x / np.sqrt(np.mean(x * x, -1, keepdims=True) + 1e-5) * w, rtol=1e-12)


def test_weight_gradient_accumulates():
    x, w = rng.standard_normal((4, 5)), np.ones(5)
    y, saved = rmsnorm_forward(x, w)
    dw = np.ones(5)
    rmsnorm_backward(np.ones_like(x), saved, w, dw)
    np.testing.assert_allclose(dw, 1 + saved[0].sum(0))
    assert abs(float(np.mean(y))) > 1e-3  # the mean is not removed, unlike layer norm


def test_without_a_weight_it_is_the_unit_gain_and_its_backward_matches_finite_differences():
    x, probe = rng.standard_normal((3, 4, 5)) * 2, rng.standard_normal((3, 4, 5))
    y, saved = rmsnorm_forward(x, None)
    np.testing.assert_array_equal(y, rmsnorm_forward(x, np.ones(5))[0])
    dx = rmsnorm_backward(probe, saved, None)
    numeric = numerical_gradient(lambda: float(np.sum(rmsnorm_forward(x, None)[0] * probe)), x, np.arange(x.size))
    np.testing.assert_allclose(dx.reshape(-1), numeric, rtol=1e-7, atol=1e-7)
