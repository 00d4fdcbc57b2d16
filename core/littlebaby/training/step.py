"""One training step's gradient: forward, loss, backward over a batch, split over threads and processes.

`compute_gradients(model, ids, targets)` returns the mean loss and leaves d loss / d parameters in
`model.grad`; `compute_loss` is the same split without the backward. The batch's rows are cut into one
chunk per worker thread: the model runs the first, replicas (same parameters, their own gradients and
activations, kept here per model) the others, with OpenBLAS on one thread each (NumPy releases the GIL).
Each chunk is weighted by its share of the rows, so the sum is the one-thread gradient up to rounding, and
dropout draws each row's mask from that row's own stream, so no split changes it.

`step_gradients` is the whole step over the MPI world: this process's rows of the global batch, in
`grad_accum_steps` micro-batches; the last one's backward starts summing the gradient over the processes in
buckets as its layers finish (buckets.py), and the step waits for them all.
"""

import contextlib
import weakref
from functools import partial

import numpy as np

from littlebaby.nn.ops.dropout import RowStreams
from littlebaby.nn.ops.loss import cross_entropy
from littlebaby.system import blas, threads
from littlebaby.system.threads import cores
from littlebaby.training.buckets import Reduction
from littlebaby.training.distributed import threads_per_process

_replicas_of: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its replicas, dropped with it


def replicas(model, n: int) -> list:
    """The model's first n replicas, made once per model (remade if its parameters are replaced)."""
    kept = _replicas_of.get(model, [])
    if kept and kept[0].parameters is not model.parameters:
        kept = []
    while len(kept) < n:
        kept.append(model.replica(seed_offset=len(kept) + 1))
    _replicas_of[model] = kept
    return kept[:n]


def _chunk(model, ids, targets, share: float, add: bool = False, finished=None) -> float:
    """share * (mean loss over these rows): its gradient into model.grad (zeroed first unless add); returns it.
    finished: the backward's callback as each stage of layers ends (GPT.backward)."""
    if not add:
        model.grad[...] = 0.0
    loss, dlogits = cross_entropy(model.forward(ids), targets)
    if share != 1.0:
        dlogits *= share
    model.backward(dlogits, finished)
    return share * loss


def thread_count(config) -> int:
    """The worker threads of this process: the config's `threads`, or (0) its share of the cores."""
    return threads_per_process(config.threads, cores())


def workers(model, batch: int) -> int:
    """How many chunks a batch of `batch` rows is cut into."""
    return max(1, min(thread_count(model.config), batch))


def chunk_models(model, batch: int) -> list:
    """The model and the replicas that run a batch of `batch` rows, one per chunk."""
    return [model] + replicas(model, workers(model, batch) - 1)


def _split(models, ids, targets, work, total_rows=None, streams=None) -> float:
    """Sum of work(model_i, rows_i of ids, rows_i of targets, share_i) over the row chunks, in parallel.

    models: chunk_models(model, rows), the model first; share_i = rows in chunk i / total_rows
    (default: all these rows); streams: the rows' dropout streams, each chunk's model gets its part."""
    model, B, n = models[0], ids.shape[0], len(models)
    for replica in models[1:]:
        if replica.training != model.training:  # switching modes walks every block: only when needed
            replica.train(model.training)
    bounds = [B * i // n for i in range(n + 1)]
    rows = [slice(bounds[i], bounds[i + 1]) for i in range(n)]
    shares = [(r.stop - r.start) / (total_rows or B) for r in rows]
    if streams is not None:
        for chunk_model, chunk_rows in zip(models, rows):
            chunk_model.set_rng(streams.part(chunk_rows))
    if n == 1:  # one chunk: BLAS may spread its GEMMs, over no more threads than a `threads` set in the config
        cap = model.config.threads
        with blas.limit(cap) if cap else contextlib.nullcontext():
            return work(model, ids, targets, shares[0])
    with blas.limit(1):
        first, *others = threads.run(
            [partial(work, models[i], ids[rows[i]], targets[rows[i]], shares[i]) for i in range(n)]
        )
        return first + sum(others)


def compute_gradients(
    model,
    ids,
    targets,
    total_rows: int | None = None,
    streams: RowStreams | None = None,
    add: bool = False,
    reduction: Reduction | None = None,
) -> float:
    """ids, targets (B, T) -> mean loss; model.grad holds d loss / d parameters.

    These rows may be part of a batch of total_rows rows: then each row weighs 1 / total_rows and
    the loss and gradient are this part's share of the batch's. streams: the rows' dropout
    streams (step_gradients); without them the model's own generator fixes every mask.
    add: the gradient is added to what model.grad holds (a later micro-batch of a step) instead of replacing it.
    reduction: the step's buckets (buckets.py), which sum the replicas' gradients into the model's and send
    them as the layers finish; until its `finish`, model.grad holds only some of the replicas' parts.
    """
    models = chunk_models(model, ids.shape[0])
    helpers = models[1:]
    own = model.rng
    if streams is None and model.config.dropout > 0:
        # replicas draw from generators seeded by the model's own, so its state fixes every mask
        for replica in helpers:
            replica.set_rng(np.random.default_rng(model.rng.integers(2**63)))

    callbacks = {id(m): reduction.finished(i) for i, m in enumerate(models)} if reduction is not None else {}
    if reduction is not None:
        reduction.workers(helpers)

    def work(chunk_model, *rows) -> float:  # replicas start from zero: their gradients are added into the model's below
        return _chunk(chunk_model, *rows, add=add and chunk_model is model, finished=callbacks.get(id(chunk_model)))

    try:
        loss = _split(models, ids, targets, work, total_rows, streams)
    finally:
        if streams is not None:
            model.set_rng(own)  # forward passes outside a step draw from the model's generator again
    for replica in helpers if reduction is None else ():
        model.grad += replica.grad
    return loss


def _chunk_loss(model, ids, targets, share: float) -> float:
    return share * model.loss(ids, targets)


def compute_loss(model, ids, targets) -> float:
    """ids, targets (B, T) -> mean loss, no gradients; eval mode (no dropout) is up to the caller."""
    return _split(chunk_models(model, ids.shape[0]), ids, targets, _chunk_loss)


def step_gradients(model, ids, targets, step: int, world, accumulation: int = 1, out=None) -> float:
    """The global batch ids, targets (B, T) of training step `step` -> its mean loss, on every
    process; model.grad holds the batch's gradient (this process's rows, summed over the processes).
    out: a sharded optimizer's part of the buffer (`world.rows(size)`), which gets this process's part of the
    sum instead (a reduce-scatter); model.grad then holds no sum over processes."""
    B = ids.shape[0]
    mine = world.rows(B)
    parts = max(1, min(accumulation, mine.stop - mine.start))
    bounds = [mine.start + (mine.stop - mine.start) * i // parts for i in range(parts + 1)]
    dropout = model.config.dropout > 0
    reduction = Reduction(model, world, out) if world.size > 1 else None  # one process: nothing to sum
    loss = 0.0
    for part, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        streams = RowStreams(model.config.seed, step, range(start, stop)) if dropout else None
        if stop > start:  # the first micro-batch writes model.grad, later ones add to it: no second buffer
            last = reduction if part == parts - 1 else None  # only the last one's gradient is the step's
            loss += compute_gradients(model, ids[start:stop], targets[start:stop], B, streams, part > 0, last)
        else:  # a process with no rows (fewer rows than processes) adds nothing
            model.grad[...] = 0.0
    if reduction is not None:
        reduction.finish()  # every bucket not sent yet (a process without rows: all), then the wait for all
    elif out is not None:
        np.copyto(out, model.grad)  # one process's part is the whole buffer
    return float(world.sum(np.array([loss]))[0])
