"""The speed-ups that have a slow twin give the same numbers as the twin."""

import numpy as np

from littlebaby.ops import embedding
from littlebaby.ops.attention import merge_heads, merge_qkv, split_heads, split_qkv


def test_embedding_one_hot_gemm_equals_add_at(monkeypatch):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (3, 5))
    dy = rng.standard_normal((3, 5, 4))
    fast = np.ones((7, 4))
    embedding.embedding_backward(dy, ids, fast)
    monkeypatch.setattr(embedding, "ONE_HOT_LIMIT", 0)
    slow = np.ones((7, 4))
    embedding.embedding_backward(dy, ids, slow)
    np.testing.assert_allclose(fast, slow, rtol=1e-14)


def test_split_qkv_and_merge_qkv_match_split_and_concatenate():
    rng = np.random.default_rng(0)
    qkv = rng.standard_normal((2, 5, 3 * 8))
    parts = np.split(qkv, 3, axis=-1)
    for fast, part in zip(split_qkv(qkv, 2), parts):
        np.testing.assert_array_equal(fast, split_heads(part, 2))
    grads = [split_heads(part, 2) for part in parts]
    np.testing.assert_array_equal(merge_qkv(*grads), np.concatenate([merge_heads(g) for g in grads], axis=-1))
