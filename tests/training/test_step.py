"""compute_gradients and compute_loss: the batch split over threads gives the single-thread results."""

import tracemalloc

import attrs
import numpy as np
import pytest

from littlebaby.config import Config
from littlebaby.plugins.resolve import build_model
from littlebaby.system import blas
from littlebaby.training import step
from littlebaby.training.distributed import Solo
from littlebaby.training.step import compute_gradients, compute_loss
from littlebaby.training.trainer import evaluate

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


def accumulated(model, ids, targets, parts: int) -> float:
    return step.step_gradients(model, ids, targets, 3, Solo(), accumulation=parts)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("parts", [2, 3, 7])
def test_accumulated_micro_batches_give_one_big_batchs_gradient(dropout, threads, parts):
    """float64: the micro-batches' gradients summed in model.grad are the whole batch's, to rounding."""
    config = Config(**dict(SMALL, dropout=dropout), threads=1)
    ids, targets = batch(config, 7)
    big = build_model(config, 11).train()
    loss = accumulated(big, ids, targets, 1)
    split = build_model(attrs.evolve(config, threads=threads), 11).train()
    split.grad[...] = np.nan  # whatever an earlier step left: the first micro-batch overwrites it
    assert accumulated(split, ids, targets, parts) == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(split.grad, big.grad, rtol=1e-12, atol=1e-16)
    assert accumulated(split, ids, targets, parts) == pytest.approx(loss, rel=1e-13)  # the next step starts afresh
    np.testing.assert_allclose(split.grad, big.grad, rtol=1e-12, atol=1e-16)


def test_accumulation_keeps_no_second_gradient_buffer():
    """Micro-batches add into the model's own flat gradient: a step holds no gradient-sized array
    once it is done (only the last micro-batch's saved activations, smaller than the whole batch's)."""
    config = Config(**dict(SMALL, n_emb=64, head_size=64), threads=1)
    model = build_model(config, 11).train()
    ids, targets = batch(config, 2)
    accumulated(model, ids, targets, 1)  # saved activations of the whole batch, and anything made once
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        accumulated(model, ids, targets, 2)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < model.grad.nbytes / 4, (kept, model.grad.nbytes)


def test_a_thread_count_in_the_config_bounds_blas_too(monkeypatch):
    # threads=1 used to leave OpenBLAS on every core: one process at load 6.5 took 20x longer than it should
    from littlebaby.system import blas
    from littlebaby.testing import tiny_model

    if blas.threads() is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS littlebaby can hold to a thread count")
    seen = []
    model = tiny_model(threads=1)
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: seen.append(blas.threads()) or forward(*a, **k))
    ids = np.zeros((3, model.config.n_ctx), dtype=np.int64)
    before = blas.threads()
    compute_gradients(model, ids, ids)
    assert seen == [1] and blas.threads() == before  # held inside the step, restored after
