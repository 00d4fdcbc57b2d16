"""Sampling: cached and uncached generation follow one context policy and agree."""

import numpy as np
import pytest

from littlebaby.nn.generation import generate, sample, window_logits, window_reach
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.testing import randomize


def model_for(attention, n_ctx=8):
    config = resolve.config(
        dict(c_attention=attention, n_ctx=n_ctx, n_emb=16, head_size=16, n_heads=2, n_layers=2, dtype="float64")
    )
    model = build_model(config, vocab_size=11)
    randomize(model.parameters, scale=0.5)
    return model


def run(model, use_cache, max_tokens, prompt=(1, 2, 3), seed=5, **options):
    logits = []
    ids = generate(
        model,
        list(prompt),
        max_tokens,
        rng=np.random.default_rng(seed),
        use_cache=use_cache,
        on_logits=lambda row: logits.append(row.copy()),
        **options,
    )
    return ids, np.array(logits)


@pytest.mark.parametrize("attention", ["mha", "moh"])
@pytest.mark.parametrize("prompt", [(1, 2, 3), tuple(range(11)) * 2])  # short, and longer than n_ctx
def test_cached_and_uncached_agree_at_every_step_past_twice_n_ctx(attention, prompt):
    model = model_for(attention)
    cached_ids, cached = run(model, True, 3 * 8 + 5, prompt)
    plain_ids, plain = run(model, False, 3 * 8 + 5, prompt)
    assert cached_ids == plain_ids
    assert len(cached) == 29
    np.testing.assert_allclose(cached, plain, atol=1e-5, rtol=0)


def test_same_seed_same_tokens_and_other_seed_other_tokens():
    model = model_for("mha")
    assert run(model, True, 30)[0] == run(model, True, 30)[0]
    assert run(model, True, 30)[0] != run(model, True, 30, seed=6)[0]


def test_streaming_callback_sees_every_token_in_order():
    model = model_for("mha")
    seen = []
    out = generate(model, [0], 12, rng=np.random.default_rng(0), on_token=seen.append)
    assert seen == out and len(out) == 12


def test_zero_tokens_and_mode_restored():
    model = model_for("moh").train()
    assert generate(model, [1], 0) == []
    assert model.training


def test_greedy_and_top_k():
    logits = np.array([0.1, 3.0, 2.0, -1.0])
    assert sample(logits, 0.0, 0, None) == 1
    rng = np.random.default_rng(0)
    draws = {sample(logits, 5.0, 2, rng) for _ in range(200)}
    assert draws == {1, 2}
    assert len({sample(logits, 5.0, 0, rng) for _ in range(400)}) == 4


@pytest.mark.parametrize("temperature", [1e-320, 5e-324, 1e-300])
def test_a_vanishing_temperature_is_greedy_without_warnings(temperature):
    # logits / T overflowed to inf for such T: inf - inf is NaN, and NaN probabilities always drew the last token
    logits = np.array([0.5, 3.0, 2.0, -1.0], dtype=np.float32)
    rng = np.random.default_rng(0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the point
        assert {sample(logits, temperature, 0, rng) for _ in range(50)} == {1}


def model_without_positions(position="rope", n_layers=2):
    config = resolve.config(
        dict(
            c_position=position,
            n_ctx=8,
            n_emb=16,
            head_size=16,
            n_heads=2,
            n_layers=n_layers,
            dtype="float64",
        )
    )
    model = build_model(config, vocab_size=11)
    randomize(model.parameters, scale=0.5)
    return model


@pytest.mark.parametrize("position", ["none", "rope"])
def test_a_model_without_positions_slides_and_both_paths_agree(position):
    model = model_without_positions(position)
    assert model.slides and not model_for("mha").slides
    cached_ids, cached = run(model, True, 3 * 8 + 5)
    plain_ids, plain = run(model, False, 3 * 8 + 5)
    assert cached_ids == plain_ids
    np.testing.assert_allclose(cached, plain, atol=1e-9, rtol=0)


def test_a_slid_cache_is_window_attention_not_a_fresh_window():
    """With two layers, the cached keys of layer 2 saw tokens that have slid out: the last token's
    logits differ from a forward over the last n_ctx tokens; with one layer they are the same."""
    stream = np.random.default_rng(0).integers(0, 11, (1, 20))
    for n_layers, same in ((1, True), (2, False)):
        model = model_without_positions(n_layers=n_layers).eval()
        fresh = model.logits(stream[:, -8:])[:, -1]
        assert np.allclose(window_logits(model, stream), fresh, atol=1e-9) == same
        assert window_reach(model.config) == n_layers * 7 + 1
