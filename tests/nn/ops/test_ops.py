"""Finite-difference checks (float64) of every op's backward, and a few exact values."""

import math

import numpy as np
import pytest

from littlebaby.nn.ops import attention, gelu, layernorm
from littlebaby.nn.ops.attention import causal_mask, merge_heads, split_heads
from littlebaby.nn.ops.dropout import dropout_backward, dropout_forward, dropout_mask
from littlebaby.nn.ops.embedding import embedding_backward, embedding_backward_reference, embedding_forward
from littlebaby.nn.ops.linear import linear_backward, linear_forward
from littlebaby.nn.ops.loss import cross_entropy
from littlebaby.nn.ops.softmax import softmax_backward, softmax_forward
from littlebaby.testing import numerical_gradient

rng = np.random.default_rng(0)
TOL = 1e-7


def pair(module, name, twin):
    """(X_forward, X_backward) of an op, or their readable `_reference` twins."""
    suffix = "_reference" if twin == "reference" else ""
    return getattr(module, f"{name}_forward{suffix}"), getattr(module, f"{name}_backward{suffix}")


BOTH = pytest.mark.parametrize("twin", ["fast", "reference"])


def assert_grad(f, array, analytic):
    """analytic must match d f() / d array at every entry."""
    idx = np.arange(array.size)
    numeric = numerical_gradient(f, array, idx)
    np.testing.assert_allclose(np.asarray(analytic).reshape(-1), numeric, rtol=TOL, atol=TOL)


def test_linear():
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    probe = rng.standard_normal((2, 3, 5))
    f = lambda: float(np.sum(linear_forward(x, w, b) * probe))
    dw, db = np.zeros_like(w), np.zeros_like(b)
    dx = linear_backward(probe, x, w, dw, db)
    assert_grad(f, x, dx)
    assert_grad(f, w, dw)
    assert_grad(f, b, db)
    np.testing.assert_allclose(linear_forward(x, w, b), np.einsum("btc,cd->btd", x, w) + b)


def test_linear_backward_accumulates():
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    dy = rng.standard_normal((3, 2))
    dw = np.ones_like(w)
    linear_backward(dy, x, w, dw)
    np.testing.assert_allclose(dw, 1.0 + x.T @ dy)


@BOTH
def test_layernorm(twin):
    layernorm_forward, layernorm_backward = pair(layernorm, "layernorm", twin)
    x = rng.standard_normal((2, 3, 6)) * 3 + 1
    w, b = rng.standard_normal(6) + 1, rng.standard_normal(6)
    probe = rng.standard_normal(x.shape)
    f = lambda: float(np.sum(layernorm_forward(x, w, b)[0] * probe))
    y, saved = layernorm_forward(x, w, b)
    dw, db = np.zeros_like(w), np.zeros_like(b)
    dx = layernorm_backward(probe, saved, w, dw, db)
    assert_grad(f, x, dx)
    assert_grad(f, w, dw)
    assert_grad(f, b, db)
    normalised = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, normalised * w + b, rtol=1e-12, atol=1e-12)


@BOTH
def test_gelu_matches_tanh_formula_and_gradient(twin):
    gelu_forward, gelu_backward = pair(gelu, "gelu", twin)
    x = rng.standard_normal((300, 7)) * 3  # more rows than one chunk
    y, derivative = gelu_forward(x)
    expected = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    small = x[:3]
    probe = rng.standard_normal(small.shape)
    f = lambda: float(np.sum(gelu_forward(small)[0] * probe))
    # the reference backward takes the input x, the fast one the derivative saved by forward
    assert_grad(f, small, gelu_backward(probe, small if twin == "reference" else gelu_forward(small)[1]))
    assert_grad(f, small, probe * gelu_forward(small)[1])  # the saved derivative is dy/dx


@pytest.mark.parametrize("axis", [-1, -2])
def test_softmax(axis):
    x = rng.standard_normal((3, 4, 5)) * 4
    y = softmax_forward(x, axis)
    np.testing.assert_allclose(y.sum(axis), 1.0)
    probe = rng.standard_normal(x.shape)
    f = lambda: float(np.sum(softmax_forward(x, axis) * probe))
    assert_grad(f, x, softmax_backward(probe, y, axis))


def test_cross_entropy_value_and_mean_gradient():
    logits = rng.standard_normal((2, 3, 7)) * 2
    targets = rng.integers(0, 7, (2, 3))
    loss, dlogits = cross_entropy(logits, targets)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(np.take_along_axis(log_probs, targets[..., None], -1))
    assert loss == pytest.approx(expected, rel=1e-12)
    assert_grad(lambda: cross_entropy(logits, targets)[0], logits, dlogits)
    # the gradient of the mean: rows sum to zero and are divided by the token count
    np.testing.assert_allclose(dlogits.sum(-1), 0.0, atol=1e-15)
    assert np.abs(dlogits).sum() < 2.0 + 1e-12


def test_cross_entropy_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    loss, dlogits = cross_entropy(logits, np.array([0]))
    assert loss == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(dlogits).all()


@pytest.mark.parametrize("backward", [embedding_backward, embedding_backward_reference])
def test_embedding_accumulates_repeated_ids(backward):
    w = rng.standard_normal((5, 3))
    ids = np.array([[1, 1, 4], [0, 1, 2]])
    probe = rng.standard_normal((2, 3, 3))
    dw = np.zeros_like(w)
    backward(probe, ids, dw)
    assert_grad(lambda: float(np.sum(embedding_forward(ids, w) * probe)), w, dw)


def test_dropout_mask_scales_and_gradient_uses_it():
    mask = dropout_mask((1000, 100), 0.25, np.random.default_rng(0), np.float64)
    assert set(np.unique(mask)) == {0.0, 1 / 0.75}
    assert abs((mask == 0).mean() - 0.25) < 0.01
    x = rng.standard_normal((4, 5))
    small = mask[:4, :5]
    probe = rng.standard_normal(x.shape)
    assert_grad(lambda: float(np.sum(dropout_forward(x, small) * probe)), x, dropout_backward(probe, small))


def test_causal_mask_with_cached_keys():
    mask = causal_mask(2, 5, np.float64)  # 2 new queries at positions 3 and 4
    visible = mask == 0
    assert visible.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]


@pytest.mark.parametrize("T,S", [(4, 4), (2, 5)])
@pytest.mark.parametrize("with_dropout", [False, True])
@BOTH
def test_attention(T, S, with_dropout, twin):
    attention_forward, attention_backward = pair(attention, "attention", twin)
    q = rng.standard_normal((2, 3, T, 4))
    k, v = rng.standard_normal((2, 3, S, 4)), rng.standard_normal((2, 3, S, 4))
    mask = dropout_mask((2, 3, T, S), 0.3, np.random.default_rng(1), np.float64) if with_dropout else None
    probe = rng.standard_normal(q.shape)
    f = lambda: float(np.sum(attention_forward(q, k, v, mask)[0] * probe))
    o, weights, used = attention_forward(q, k, v, mask)
    dq, dk, dv = attention_backward(probe, q, k, v, weights, used, mask)
    for array, grad in ((q, dq), (k, dk), (v, dv)):
        assert_grad(f, array, grad)
    # a query never looks at a later key
    assert np.all(weights[..., 0, S - T + 1 :] < 1e-300)


@pytest.mark.parametrize("T,S", [(4, 4), (2, 5), (1, 6)])
@pytest.mark.parametrize("bias_shape", ["full", "heads", "shared"])
@BOTH
def test_attention_with_a_score_bias(T, S, bias_shape, twin):
    attention_forward, attention_backward = pair(attention, "attention", twin)
    q = rng.standard_normal((2, 3, T, 4))
    k, v = rng.standard_normal((2, 3, S, 4)), rng.standard_normal((2, 3, S, 4))
    shape = {"full": (2, 3, T, S), "heads": (3, T, S), "shared": (1, 1, T, S)}[bias_shape]
    bias = rng.standard_normal(shape)
    mask = dropout_mask((2, 3, T, S), 0.3, np.random.default_rng(1), np.float64)
    probe = rng.standard_normal(q.shape)
    f = lambda: float(np.sum(attention_forward(q, k, v, mask, bias)[0] * probe))
    o, weights, used = attention_forward(q, k, v, mask, bias)
    dq, dk, dv, dbias = attention_backward(probe, q, k, v, weights, used, mask, bias_grad=True)
    assert dbias.shape == (2, 3, T, S)
    for array, grad in ((q, dq), (k, dk), (v, dv), (bias, attention.unbroadcast(dbias, shape))):
        assert_grad(f, array, grad)
    # the bias moves the weights: a large penalty on key 0 takes its weight from every query that sees
    # another key, and the causal mask still holds
    penalty = np.zeros((T, S))
    penalty[:, 0] = -50.0
    moved = attention_forward(q, k, v, None, penalty)[1]
    seeing_more = S - T + np.arange(T) >= 1
    assert np.all(moved[..., seeing_more, 0] < 1e-15) and np.all(moved[..., 0, S - T + 1 :] < 1e-300)
    np.testing.assert_allclose(moved.sum(-1), 1.0)


def test_the_layer_hands_back_the_bias_gradient_in_its_own_shape():
    from littlebaby.nn import CausalAttention

    layer = CausalAttention(0.0)
    q, k, v = (rng.standard_normal((2, 3, 4, 4)) for _ in range(3))
    bias = rng.standard_normal((3, 4, 4))
    probe = rng.standard_normal(q.shape)
    f = lambda: float(np.sum(layer.forward(q, k, v, bias) * probe))
    layer.forward(q, k, v, bias)
    layer.backward(probe)
    assert layer.bias_grad.shape == bias.shape
    assert_grad(f, bias, layer.bias_grad.copy())
    layer.forward(q, k, v)
    layer.backward(probe)
    assert layer.bias_grad is None  # no bias, no gradient left from before


def test_split_and_merge_heads_are_inverse():
    x = rng.standard_normal((2, 3, 12))
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(merge_heads(heads), x)
    np.testing.assert_array_equal(heads[:, 1], x[:, :, 3:6])
