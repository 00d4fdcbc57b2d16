"""mla through the kit; its cache holds the kv_latent-wide latent and nothing else."""

import pytest

from littlebaby.testing import block_suite, check_cache, tiny_model

mla = pytest.importorskip(
    "littlebaby_attention_mla", reason="littlebaby-attention-mla is not installed (uv sync --all-packages)"
)

TestMultiHeadLatentAttention = block_suite("attention", "mla", plugin=mla, options={"kv_latent": 5})
TestMultiHeadLatentAttentionQKNorm = block_suite(
    "attention", "mla", plugin=mla, options={"kv_latent": 5, "qk_norm": True}
)


def test_cache_holds_only_the_latent():
    model = tiny_model(c_attention="mla", kv_latent=5)
    cache = model.new_cache()
    model.logits([[1, 2, 3]], cache)
    config = model.config
    for layer in cache.layers:
        assert {name: b.shape for name, b in layer.buffers.items()} == {"latent": (1, config.n_ctx, 5)}


def test_cache_memory_against_mha():
    # mha caches k and v: 2 head_size = 24 numbers per token per layer; mla 6
    mha = check_cache(tiny_model(c_attention="mha")).nbytes
    assert check_cache(tiny_model(c_attention="mla", kv_latent=6)).nbytes * 4 == mha


def test_stated_parameter_count_is_what_is_allocated():
    from littlebaby.look.inspection import closed_form

    model = tiny_model(c_attention="mla", kv_latent=5)
    assert closed_form(model)[1] == model.parameters.size
