"""AdamW (decoupled decay, matrices only), gradient clipping, the learning rate schedule."""

import numpy as np
import pytest

from littlebaby.nn.block import Block
from littlebaby.nn.params import Parameters
from littlebaby.optim.adamw import AdamW, clip_grad_norm
from littlebaby.training.schedule import learning_rate


class TwoTensors(Block):
    def __init__(self):
        super().__init__()
        self.parameter("bias", (3,), init="zeros")  # declared first, stored after the matrix
        self.parameter("weight", (2, 3))


def reference_adamw(p, g, m, v, t, lr, b1, b2, eps, wd, decay):
    """Loshchilov & Hutter: decay the weights, not the gradient."""
    if decay:
        p = p * (1 - lr * wd)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p, m, v


def test_adamw_matches_decoupled_formula_and_skips_vectors():
    block = TwoTensors()
    params = Parameters(block, "float64")
    rng = np.random.default_rng(0)
    params.data[:] = rng.standard_normal(params.size)
    assert params.decay_size == 6 and params.offsets["weight"] == 0
    optimizer = AdamW(params, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    expected = {name: (params.named()[name].copy(), 0.0, 0.0) for name in ("weight", "bias")}
    for t in range(1, 4):
        grad = rng.standard_normal(params.size)
        views = params.named(grad)
        for name in expected:
            p, m, v = expected[name]
            expected[name] = reference_adamw(p, views[name], m, v, t, 0.01, 0.9, 0.99, 1e-8, 0.1, name == "weight")
        optimizer.step(grad, lr=0.01)
    for name, (p, _, _) in expected.items():
        np.testing.assert_allclose(params.named()[name], p, rtol=1e-12)


def test_weight_decay_is_not_added_to_the_gradient():
    block = TwoTensors()
    params = Parameters(block, "float64")
    params.data[:] = 1.0
    optimizer = AdamW(params, weight_decay=0.5)
    optimizer.step(np.zeros(params.size), lr=0.1)
    # zero gradient: only the decay moves the matrix, by exactly lr * wd * p; vectors stay
    np.testing.assert_allclose(params.named()["weight"], 0.95)
    np.testing.assert_allclose(params.named()["bias"], 1.0)


class BigTensors(Block):
    """A matrix (decayed) then a vector, big enough to be cut into pieces."""

    def __init__(self, rows):
        super().__init__()
        self.parameter("weight", (rows, 1000))
        self.parameter("bias", (150_000,), init="zeros")


@pytest.mark.parametrize("rows, threads", [(100, 2), (200, 2), (200, 3), (10, 4)])
def test_an_update_in_pieces_on_threads_is_the_update_in_one(rows, threads):
    # rows 100: the decayed matrix ends inside the first of two pieces, 200: inside the second
    rng = np.random.default_rng(0)
    params = {n: Parameters(BigTensors(rows), "float32") for n in (1, threads)}
    start = rng.standard_normal(params[1].size).astype(np.float32)
    optimizers = {}
    for n, p in params.items():
        p.data[:] = start
        optimizers[n] = AdamW(p, weight_decay=0.1, threads=n)
    assert len(optimizers[threads].pieces) == min(threads, params[1].size // (1 << 16)) > 1
    for _ in range(3):
        grad = rng.standard_normal(params[1].size).astype(np.float32)
        for n in params:
            optimizers[n].step(grad, 1e-2)
    assert np.array_equal(params[threads].data, params[1].data)
    assert np.array_equal(optimizers[threads].update, optimizers[1].update)
    assert np.array_equal(optimizers[threads].v, optimizers[1].v)


def test_optimizer_state_round_trips():
    params = Parameters(TwoTensors(), "float64")
    optimizer = AdamW(params)
    optimizer.step(np.ones(params.size), lr=0.1)
    other = AdamW(params)
    other.load_state(optimizer.state())
    assert other.t == 1
    np.testing.assert_array_equal(other.m, optimizer.m)


def test_clip_grad_norm():
    grad = np.array([3.0, 4.0])
    assert clip_grad_norm(grad, 1.0) == pytest.approx(5.0)
    assert np.linalg.norm(grad) == pytest.approx(1.0, rel=1e-5)
    small = np.array([0.3, 0.4])
    clip_grad_norm(small, 1.0)
    np.testing.assert_array_equal(small, [0.3, 0.4])
    clip_grad_norm(grad, 0.0)  # 0 = off


def test_schedule_warmup_then_cosine_to_min_lr():
    lrs = [learning_rate(s, 100, 1.0, 0.1, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)
    assert learning_rate(500, 100, 1.0, 0.1, 10) == pytest.approx(0.1)
    assert learning_rate(0, 10, 1.0, 0.1, 0) == pytest.approx(1.0)


def test_a_min_lr_above_lr_never_raises_the_rate_past_its_peak():
    """A notebook config with lr 1e-4 beside the default min_lr 3e-4: the rate stays at lr after warmup."""
    lrs = [learning_rate(s, 100, 1e-4, 3e-4, 10) for s in range(100)]
    assert max(lrs) == pytest.approx(1e-4)
    assert lrs[9:] == [pytest.approx(1e-4)] * 91
