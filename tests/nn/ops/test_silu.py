"""ops/silu.py: finite-difference backward, the definition, no overflow far out."""

import numpy as np

from littlebaby.nn.ops.silu import silu_backward, silu_forward
from littlebaby.testing import numerical_gradient


def test_backward_matches_finite_differences():
    x = np.random.default_rng(0).standard_normal((3, 7)) * 4
    probe = np.random.default_rng(1).standard_normal(x.shape)
    _, derivative = silu_forward(x)
    numeric = numerical_gradient(lambda: float(np.sum(silu_forward(x)[0] * probe)), x, np.arange(x.size))
    np.testing.assert_allclose(silu_backward(probe, derivative).reshape(-1), numeric, rtol=1e-7, atol=1e-8)


def test_definition_and_far_values():
    x = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    with np.errstate(all="raise"):
        y, derivative = silu_forward(x)
    np.testing.assert_allclose(y[1:4], x[1:4] / (1 + np.exp(-x[1:4])), rtol=1e-12)
    np.testing.assert_allclose([y[0], y[-1]], [0.0, 800.0])
    np.testing.assert_allclose([derivative[0], derivative[2], derivative[-1]], [0.0, 0.5, 1.0])
