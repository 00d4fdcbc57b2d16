"""The gradient summed over processes in buckets while the backward pass runs (training/buckets.py).

In one process: a simulated rank's world keeps a copy of each bucket as it is when its reduction starts, and
whether the backward pass had reached the embeddings by then. Under mpiexec every step of the runs in
test_distributed.py and test_sharding.py (1, 2 and 3 processes, threads, micro-batches, sharded, resumed)
sums its gradient in buckets, and those runs are compared with one process there.
"""

import numpy as np
import pytest

from littlebaby.nn.ops.loss import cross_entropy
from littlebaby.training import buckets, distributed
from littlebaby.training.step import step_gradients


@pytest.fixture
def tiny_model(tiny_model):
    """Three layers here (the shared fixture has two): more stages than the first buckets."""
    return lambda **keys: tiny_model(**{"n_layers": 3} | keys)


class Recording(distributed.Solo):
    """Rank `rank` of a simulated world of `size` that sums nothing: each bucket's data as it was sent, and
    whether the embeddings' gradient (the backward pass's last stage; untied head) was written by then."""

    rows = distributed.MPIWorld.rows

    def __init__(self, rank, size, model):
        super().__init__()
        self.rank, self.size, self.model, self.sent = rank, size, model, []

    def start_sum(self, array, out=None, counts=None):
        self.sent.append((array.copy(), bool(self.model.parameters.view(self.model.grad, "wte.weight").any())))
        return super().start_sum(array, out, counts)


CONFIGS = [{}, {"tie_embeddings": True}, {"c_position": "none", "n_layers": 1}, {"bias": False}]


@pytest.mark.parametrize("keys", CONFIGS)
@pytest.mark.parametrize("least", [1, 2000, buckets.BUCKET_ELEMENTS])
def test_buckets_cover_the_gradient_once_in_the_order_backward_ends_them(keys, least, tiny_model):
    model = tiny_model(**keys)
    plan = buckets.plan(model, least)
    ranges = sorted(r for _, bucket in plan for r in bucket)
    assert ranges[0][0] == 0 and ranges[-1][1] == model.parameters.size
    assert all(a[1] == b[0] for a, b in zip(ranges[:-1], ranges[1:]))  # no gap, no overlap
    ended = [stages for stages, _ in plan]
    assert ended == sorted(set(ended)) and ended[-1] == len(model.stages())
    assert len(plan) >= 2  # a small model has buckets too
    if least == 1:
        assert len(plan) == len(model.stages())  # every stage its own bucket
    if least == buckets.BUCKET_ELEMENTS:  # a block's norms and biases wait for the last bucket: one range each
        assert all(len(ranges) == 1 for _, ranges in plan[:-1])


@pytest.mark.parametrize("keys", CONFIGS)
def test_a_stage_s_gradient_is_final_when_backward_says_it_ended(keys, tiny_model, tiny_batch):
    model = tiny_model(**keys)
    inputs, targets = tiny_batch()
    snapshots = []
    model.grad[...] = 0.0
    model.backward(model_dlogits(model, inputs, targets), lambda stage: snapshots.append((stage, model.grad.copy())))
    assert [stage for stage, _ in snapshots] == list(range(len(model.stages())))
    for (stage, grad), ranges in zip(snapshots, buckets._stage_ranges(model)):
        for start, stop in ranges:
            np.testing.assert_array_equal(grad[start:stop], model.grad[start:stop], err_msg=f"stage {stage}")


def model_dlogits(model, inputs, targets):
    return cross_entropy(model.forward(inputs), targets)[1]


def test_buckets_are_sent_while_the_backward_pass_runs(tiny_model, tiny_batch):
    model = tiny_model()
    world = Recording(0, 2, model)
    step_gradients(model, *tiny_batch(), 1, world)
    reached_embeddings = [written for _, written in world.sent]
    assert len(world.sent) >= 4 and not any(reached_embeddings[:3]) and reached_embeddings[-1]


@pytest.mark.parametrize("threads, accumulation", [(2, 1), (3, 1), (2, 2), (3, 3)])
@pytest.mark.parametrize("rank", [0, 1])
def test_each_bucket_holds_the_sum_over_threads_when_sent(threads, accumulation, rank, tiny_model, tiny_batch):
    inputs, targets = tiny_batch()
    alone = tiny_model(dropout=0.2)
    step_gradients(alone, inputs, targets, 4, Recording(rank, 2, alone))
    model = tiny_model(dropout=0.2, threads=threads)
    world = Recording(rank, 2, model)
    loss = step_gradients(model, inputs, targets, 4, world, accumulation)
    ranges = [r for _, bucket in buckets.plan(model) for r in bucket]
    assert len(world.sent) == len(ranges)
    for (start, stop), (sent, _) in zip(ranges, world.sent):
        np.testing.assert_allclose(sent, alone.grad[start:stop], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.grad, alone.grad, rtol=1e-10, atol=1e-14)
    assert np.isfinite(loss)


@pytest.mark.parametrize("size", [2, 3, 7])
def test_a_sharded_step_gives_each_rank_its_part_of_every_bucket(size, tiny_model, tiny_batch):
    inputs, targets = tiny_batch()
    for rank in range(size):
        model = tiny_model(threads=2)
        world = Recording(rank, size, model)
        part = world.rows(model.parameters.size)
        out = np.full(part.stop - part.start, np.nan)
        step_gradients(model, inputs, targets, 0, world, out=out)
        np.testing.assert_array_equal(out, model.grad[part])  # each bucket's piece landed where it belongs
        assert len(world.sent) == sum(len(bucket) for _, bucket in buckets.plan(model))


def test_one_process_sends_nothing(tiny_model, tiny_batch):
    model = tiny_model(threads=2)
    world = Recording(0, 1, model)
    step_gradients(model, *tiny_batch(), 0, world, 2)
    assert world.sent == []


def test_overlap_switched_off_sends_one_bucket_after_the_backward_pass(monkeypatch, tiny_model, tiny_batch):
    monkeypatch.setenv(buckets.SWITCH, "0")
    model = tiny_model(threads=2)
    assert buckets.plan(model) == [(len(model.stages()), [(0, model.parameters.size)])]
    world = Recording(0, 2, model)
    step_gradients(model, *tiny_batch(), 0, world)
    assert len(world.sent) == 1 and world.sent[0][1]  # the whole gradient, embeddings included
    np.testing.assert_array_equal(world.sent[0][0], model.grad)
