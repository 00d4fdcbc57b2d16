"""compute_gradients and compute_loss: the batch split over threads gives the single-thread results."""

import attrs
import numpy as np
import pytest

from littlebaby import blas, step
from littlebaby.config import Config
from littlebaby.model import build_model
from littlebaby.step import compute_gradients, compute_loss
from littlebaby.training import evaluate

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
    assert all(not replica.training for replica in step.replicas(model, 1))
    assert compute_gradients(model, ids, targets) == first  # eval: no dropout, deterministic


@pytest.mark.parametrize("sequence, attention, network", COMBINATIONS)
@pytest.mark.parametrize("threads, rows", [(2, 6), (3, 5), (4, 2), (2, 1)])
def test_threaded_loss_equals_single_thread_and_leaves_gradients_alone(sequence, attention, network, threads, rows):
    config = Config(c_sequence=sequence, c_attention=attention, c_network=network, threads=1, **SMALL)
    single = build_model(config, 11).eval()
    split = build_model(attrs.evolve(config, threads=threads), 11).eval()
    ids, targets = batch(config, rows, seed=rows)
    split.grad[...] = 7.0
    before = blas.threads()
    assert compute_loss(split, ids, targets) == pytest.approx(single.loss(ids, targets), rel=1e-13)
    assert compute_loss(single, ids, targets) == single.loss(ids, targets)
    assert np.all(split.grad == 7.0)
    assert blas.threads() == before


def test_evaluate_over_threads_equals_one_thread_with_dropout_configured():
    config = Config(**dict(SMALL, dropout=0.3), threads=1)
    single = build_model(config, 11).train()
    split = build_model(attrs.evolve(config, threads=2), 11).train()
    ids, targets = batch(config, 9)  # 9 windows in chunks of 4: a short last chunk
    loss = evaluate(split, ids, targets, batch_size=4)
    assert loss == pytest.approx(evaluate(single, ids, targets, batch_size=4), rel=1e-13)
    assert loss == evaluate(split, ids, targets, batch_size=4)  # eval mode: no dropout masks
    assert split.training
    compute_gradients(split, ids[:4], targets[:4])  # the next step trains its replicas again
    assert all(replica.training for replica in step.replicas(split, 1))


def test_replicas_are_kept_by_the_step_and_dropped_with_their_model():
    import gc
    import weakref

    model = build_model(Config(**SMALL, threads=2), 11)
    ids, targets = batch(model.config, 4)
    compute_gradients(model, ids, targets)
    kept = step.replicas(model, 1)
    assert kept == step.replicas(model, 1) and kept[0].parameters is model.parameters  # made once, reused
    assert "_step_replicas" not in vars(model)
    alive = weakref.ref(model)
    del model, kept
    gc.collect()
    assert alive() is None
