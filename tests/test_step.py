"""compute_gradients: the batch split over threads gives the single-thread gradient."""

import attrs
import numpy as np
import pytest

from littlebaby import blas
from littlebaby.config import Config
from littlebaby.model import build_model
from littlebaby.step import compute_gradients

SMALL = dict(n_ctx=8, n_emb=16, head_size=16, n_heads=2, n_layers=2, dtype="float64", dropout=0.0)
COMBINATIONS = [(s, a, n) for s in ("pre", "post") for a in ("mha", "moh") for n in ("mlp", "moe")]


def batch(config, rows, seed=0):
    rng = np.random.default_rng(seed)
    shape = (rows, config.n_ctx)
    return rng.integers(0, 11, shape), rng.integers(0, 11, shape)


@pytest.mark.parametrize("sequence, attention, network", COMBINATIONS)
@pytest.mark.parametrize("threads, rows", [(2, 6), (3, 5), (4, 2)])
def test_threaded_gradient_equals_single_thread(sequence, attention, network, threads, rows):
    config = Config(c_sequence=sequence, c_attention=attention, c_network=network, threads=1, **SMALL)
    single = build_model(config, 11).train()
    split = build_model(attrs.evolve(config, threads=threads), 11).train()
    ids, targets = batch(config, rows)
    loss_single = compute_gradients(single, ids, targets)
    loss_split = compute_gradients(split, ids, targets)
    assert loss_split == pytest.approx(loss_single, rel=1e-13)
    np.testing.assert_allclose(split.grad, single.grad, rtol=1e-10, atol=1e-14)


def test_repeated_steps_do_not_accumulate():
    config = Config(threads=2, **SMALL)
    model = build_model(config, 11).train()
    ids, targets = batch(config, 4)
    compute_gradients(model, ids, targets)
    first = model.grad.copy()
    compute_gradients(model, ids, targets)
    np.testing.assert_array_equal(model.grad, first)


def test_blas_threads_restored_after_a_step():
    before = blas.threads()
    config = Config(threads=2, **SMALL)
    model = build_model(config, 11).train()
    compute_gradients(model, *batch(config, 4))
    assert blas.threads() == before


def test_blas_limit_is_a_context():
    before = blas.threads()
    with blas.limit(1):
        assert blas.threads() in (None, 1)
    assert blas.threads() == before


def test_threaded_step_with_dropout_runs_and_replicas_follow_the_mode():
    config = Config(**dict(SMALL, dropout=0.2), threads=2)
    model = build_model(config, 11).train()
    ids, targets = batch(config, 4)
    assert np.isfinite(compute_gradients(model, ids, targets))
    model.eval()
    first = compute_gradients(model, ids, targets)
    assert all(not replica.training for replica in model._step_replicas)
    assert compute_gradients(model, ids, targets) == first  # eval: no dropout, deterministic
