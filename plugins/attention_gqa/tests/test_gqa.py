"""gqa through the kit; with n_kv_heads == n_heads it is mha; its cache holds only the shared heads."""

import numpy as np
import pytest

from littlebaby.errors import UserError
from littlebaby.testing import block_suite, check_cache, check_gradients, check_model_gradients, tiny_model

gqa = pytest.importorskip(
    "littlebaby_attention_gqa", reason="littlebaby-attention-gqa is not installed (uv sync --all-packages)"
)

TestGroupedQueryAttention = block_suite("attention", "gqa", plugin=gqa)  # n_kv_heads 1: multi-query
TestGroupedQueryAttentionQKNorm = block_suite("attention", "gqa", plugin=gqa, options={"qk_norm": True})

GROUPS = {"c_attention": "gqa", "n_kv_heads": 2}  # 4 query heads, 2 per key/value head


def test_groups_of_two_heads():
    from littlebaby.testing import build_block, tiny_config

    check_gradients(build_block("attention", "gqa", tiny_config(**GROUPS)))
    check_model_gradients(**GROUPS)
    check_cache(tiny_model(**GROUPS))


def test_as_many_kv_heads_as_heads_is_mha():
    mha = tiny_model(c_attention="mha")
    same = tiny_model(c_attention="gqa", n_kv_heads=mha.config.n_heads)
    assert list(same.parameters.specs) == list(mha.parameters.specs)
    same.parameters.data[...] = mha.parameters.data
    ids = np.random.default_rng(0).integers(0, mha.vocab_size, (2, mha.config.n_ctx))
    np.testing.assert_allclose(same.logits(ids), mha.logits(ids), rtol=1e-12, atol=1e-12)
    for model in (mha, same):
        model.grad[...] = 0.0
        model.loss_and_grad(ids, np.roll(ids, -1, axis=1))
    np.testing.assert_allclose(same.grad, mha.grad, rtol=1e-10, atol=1e-12)


def test_cache_holds_the_shared_heads_only():
    mha = check_cache(tiny_model(c_attention="mha")).nbytes
    assert check_cache(tiny_model(**GROUPS)).nbytes * 2 == mha  # 2 of 4 heads
    assert check_cache(tiny_model(c_attention="gqa", n_kv_heads=1)).nbytes * 4 == mha


def test_n_kv_heads_must_divide_n_heads():
    with pytest.raises(UserError, match=r"n_kv_heads: must divide n_heads \(4 % 3") as error:
        tiny_model(c_attention="gqa", n_kv_heads=3)
    assert "\n" not in str(error.value)


def test_stated_parameter_count_is_what_is_allocated():
    from littlebaby.look.inspection import closed_form

    model = tiny_model(**GROUPS)
    assert closed_form(model)[1] == model.parameters.size
