"""ops/rotary.py: finite-difference backward, orthogonality, relative positions, odd widths."""

import numpy as np
import pytest

from littlebaby.nn.ops.rotary import rotary_backward, rotary_forward, rotary_tables
from littlebaby.testing import numerical_gradient

rng = np.random.default_rng(0)


@pytest.mark.parametrize("d", [1, 3, 4, 7, 8])
def test_backward_matches_finite_differences(d):
    x = rng.standard_normal((2, 3, 5, d))
    cos, sin = rotary_tables(np.arange(4, 9), d, base=50.0)
    probe = rng.standard_normal(x.shape)
    dx = rotary_backward(probe, cos, sin)
    numeric = numerical_gradient(lambda: float(np.sum(rotary_forward(x, cos, sin) * probe)), x, np.arange(x.size))
    np.testing.assert_allclose(dx.reshape(-1), numeric, rtol=1e-7, atol=1e-7)


def test_backward_inverts_forward_and_norms_are_kept():
    x = rng.standard_normal((2, 6, 8))
    cos, sin = rotary_tables(np.arange(6), 8)
    y = rotary_forward(x, cos, sin)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(rotary_backward(y, cos, sin), x, rtol=1e-12, atol=1e-12)


def test_scores_depend_only_on_the_distance():
    q, k = rng.standard_normal(8), rng.standard_normal(8)

    def score(i, j):
        cos, sin = rotary_tables([i, j], 8, base=100.0)
        return rotary_forward(q[None], cos[:1], sin[:1]) @ rotary_forward(k[None], cos[1:], sin[1:]).T

    np.testing.assert_allclose(score(3, 1), score(1003, 1001), rtol=1e-9)
    assert not np.allclose(score(3, 1), score(3, 2))  # the distance does matter


def test_position_zero_is_the_identity_and_odd_last_feature_is_kept():
    x = rng.standard_normal((4, 5))
    cos, sin = rotary_tables([0, 1, 2, 3], 5)
    y = rotary_forward(x, cos, sin)
    np.testing.assert_array_equal(y[0], x[0])
    np.testing.assert_array_equal(y[:, 4], x[:, 4])
    assert not np.allclose(y[1, :4], x[1, :4])


def test_pairs_and_frequencies():
    """Feature i pairs with i + d/2; the first pair turns one radian per position, the last base^(-1/2) at d = 4."""
    cos, sin = rotary_tables([1], 4, base=100.0)
    np.testing.assert_allclose(np.arctan2(sin, cos), [[1.0, 0.1]])
    y = rotary_forward(np.array([[1.0, 0.0, 0.0, 0.0]]), cos, sin)
    np.testing.assert_allclose(y, [[np.cos(1.0), 0.0, np.sin(1.0), 0.0]])


def test_dtype_is_kept():
    cos, sin = rotary_tables(np.arange(3), 6, dtype=np.float32)
    assert rotary_forward(np.ones((3, 6), np.float32), cos, sin).dtype == np.float32
