"""Every fast path gives the numbers of its readable twin (`X_reference`, or the slow way it replaces).

float64, random inputs, shapes that include ones, odd widths and more rows than one chunk.
"""

import numpy as np
import pytest

from littlebaby.nn.ops import attention, embedding, gelu, layernorm, reduce
from littlebaby.nn.ops.attention import merge_heads, merge_qkv, split_heads, split_qkv
from littlebaby.nn.ops.dropout import dropout_mask

CLOSE = dict(rtol=1e-12, atol=1e-12)


def assert_all_close(fast, reference):
    assert len(fast) == len(reference)
    for got, expected in zip(fast, reference):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **CLOSE)


# (40, 1001): several GELU chunks with a short last one; (1,): a single element
SHAPES = [(1,), (1, 1), (3, 7), (2, 5, 33), (40, 1001)]


@pytest.mark.parametrize("shape", SHAPES)
def test_gelu_forward_and_backward_match_the_formula(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) * 3
    dy = rng.standard_normal(shape)
    y, derivative = gelu.gelu_forward(x)
    assert_all_close((y, derivative), gelu.gelu_forward_reference(x))
    np.testing.assert_allclose(gelu.gelu_backward(dy, derivative), gelu.gelu_backward_reference(dy, x), **CLOSE)


@pytest.mark.parametrize("shape", SHAPES)
def test_gelu_value_matches_the_formula(shape):
    x = np.random.default_rng(sum(shape)).standard_normal(shape) * 3
    y = gelu.gelu_value(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, gelu.gelu_forward_reference(x)[0], **CLOSE)


# (B, H, T, S, d): T < S is a query block after cached keys
ATTENTION_SHAPES = [(1, 1, 1, 1, 1), (2, 3, 5, 5, 4), (2, 3, 2, 7, 3), (1, 2, 9, 9, 5), (3, 1, 1, 6, 2)]


@pytest.mark.parametrize("B,H,T,S,d", ATTENTION_SHAPES)
@pytest.mark.parametrize("with_dropout", [False, True])
def test_keys_major_attention_matches_the_formula(B, H, T, S, d, with_dropout):
    rng = np.random.default_rng(B * 100 + T * 10 + S)
    q, k, v = rng.standard_normal((B, H, T, d)), rng.standard_normal((B, H, S, d)), rng.standard_normal((B, H, S, d))
    mask = dropout_mask((B, H, T, S), 0.3, rng, np.float64) if with_dropout else None
    do = rng.standard_normal(q.shape)
    forward = attention.attention_forward(q, k, v, mask)
    reference = attention.attention_forward_reference(q, k, v, mask)
    assert_all_close(forward, reference)
    assert_all_close(
        attention.attention_backward(do, q, k, v, *forward[1:], mask),
        attention.attention_backward_reference(do, q, k, v, *reference[1:], mask),
    )


# (1, 2), (1, 1, 129): one row, generation's token, takes a path of its own
@pytest.mark.parametrize("shape", [(1, 2), (1, 1, 129), (3, 5), (2, 7, 13), (64, 129)])
def test_layernorm_gemv_means_match_the_formula(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) * 3 + 1
    weight, bias = rng.standard_normal(shape[-1]) + 1, rng.standard_normal(shape[-1])
    dy = rng.standard_normal(shape)
    y, saved = layernorm.layernorm_forward(x, weight, bias)
    y_reference, saved_reference = layernorm.layernorm_forward_reference(x, weight, bias)
    assert_all_close((y, *saved), (y_reference, *saved_reference))
    grads = [np.full(shape[-1], 0.5), np.full(shape[-1], -0.5)]  # both accumulate onto what is there
    grads_reference = [g.copy() for g in grads]
    dx = layernorm.layernorm_backward(dy, saved, weight, *grads)
    dx_reference = layernorm.layernorm_backward_reference(dy, saved_reference, weight, *grads_reference)
    assert_all_close((dx, *grads), (dx_reference, *grads_reference))


@pytest.mark.parametrize("vocab,ids_shape,width", [(1, (1,), 1), (7, (3, 5), 4), (65, (4, 33), 9), (3, (50,), 2)])
@pytest.mark.parametrize("one_hot", [True, False])
def test_embedding_backward_matches_add_at(monkeypatch, vocab, ids_shape, width, one_hot):
    if not one_hot:  # beyond the one-hot size limit the fast function takes the other branch
        monkeypatch.setattr(embedding, "ONE_HOT_LIMIT", 0)
    rng = np.random.default_rng(vocab)
    ids = rng.integers(0, vocab, ids_shape)
    dy = rng.standard_normal((*ids_shape, width))
    fast, reference = np.ones((vocab, width)), np.ones((vocab, width))
    embedding.embedding_backward(dy, ids, fast)
    embedding.embedding_backward_reference(dy, ids, reference)
    np.testing.assert_allclose(fast, reference, **CLOSE)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (33, 17), (256, 129)])
def test_gemv_reductions_match_numpy_sums(shape):
    a = np.random.default_rng(sum(shape)).standard_normal(shape)
    for transposed in (a, a.T):  # non-contiguous input too
        np.testing.assert_allclose(reduce.column_sum(transposed), reduce.column_sum_reference(transposed), **CLOSE)
        np.testing.assert_allclose(reduce.row_sum(transposed), reduce.row_sum_reference(transposed), **CLOSE)
        np.testing.assert_allclose(reduce.row_mean(transposed), reduce.row_mean_reference(transposed), **CLOSE)


def test_split_qkv_and_merge_qkv_match_split_and_concatenate():
    rng = np.random.default_rng(0)
    qkv = rng.standard_normal((2, 5, 3 * 8))
    parts = np.split(qkv, 3, axis=-1)
    for fast, part in zip(split_qkv(qkv, 2), parts):
        np.testing.assert_array_equal(fast, split_heads(part, 2))
    grads = [split_heads(part, 2) for part in parts]
    np.testing.assert_array_equal(merge_qkv(*grads), np.concatenate([merge_heads(g) for g in grads], axis=-1))
