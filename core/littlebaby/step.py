"""One training step's gradient: forward, loss, backward over a batch, split over threads.

`compute_gradients(model, ids, targets)` returns the mean loss over the batch
and leaves d loss / d parameters in `model.grad`. `compute_loss(model, ids,
targets)` is the same split without the backward (evaluation).

With `config.threads` workers (0 = one per core) the batch is cut into that
many row chunks. The model runs the first chunk on the calling thread; each
other chunk runs on a replica (`GPT.replica()`: same parameters, its own
gradient buffer and saved activations) in a thread pool; this module keeps
each model's replicas (`replicas(model, n)`) for as long as the model lives.
NumPy releases the GIL inside its ops, so the chunks really run in parallel;
OpenBLAS is held to one thread meanwhile (`blas.limit`), as each chunk already
has a core: on 2 cores this beats one model with a 2-thread BLAS
(benchmarks/RESULTS.md). Each chunk's loss and loss gradient are scaled by its
share of the tokens, so the sums equal the single-thread ones up to float
rounding. With dropout, each replica draws its own masks from a generator
seeded by the model's own every step, so the model's generator state fixes
them all.
"""

import os
import weakref
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from littlebaby import blas
from littlebaby.ops.loss import cross_entropy

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_replicas_of: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its replicas, dropped with it


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared worker threads, grown when a step needs more."""
    global _pool, _pool_size
    if _pool is None or _pool_size < workers:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="littlebaby-step")
        _pool_size = workers
    return _pool


def replicas(model, n: int) -> list:
    """The model's first n replicas, made once per model (remade if its parameters are replaced)."""
    kept = _replicas_of.get(model, [])
    if kept and kept[0].parameters is not model.parameters:
        kept = []
    while len(kept) < n:
        kept.append(model.replica(seed_offset=len(kept) + 1))
    _replicas_of[model] = kept
    return kept[:n]


def _chunk(model, ids, targets, share: float) -> float:
    """Gradient of share * (mean loss over these rows) into model.grad (zeroed first); returns share * loss."""
    model.grad[...] = 0.0
    loss, dlogits = cross_entropy(model.forward(ids), targets)
    if share != 1.0:
        dlogits *= share
    model.backward(dlogits)
    return share * loss


def workers(model, batch: int) -> int:
    """How many chunks a batch of `batch` rows is cut into."""
    return max(1, min(model.config.threads or cores(), batch))


def _split(model, ids, targets, work) -> float:
    """Sum of work(model_i, rows_i of ids, rows_i of targets, share_i) over the row chunks, in parallel."""
    n = workers(model, ids.shape[0])
    if n == 1:
        return work(model, ids, targets, 1.0)
    models = [model] + replicas(model, n - 1)
    for replica in models[1:]:
        if replica.training != model.training:  # switching modes walks every block: only when needed
            replica.train(model.training)
    B = ids.shape[0]
    bounds = [B * i // n for i in range(n + 1)]
    rows = [slice(bounds[i], bounds[i + 1]) for i in range(n)]
    shares = [(r.stop - r.start) / B for r in rows]
    with blas.limit(1):
        pool = _executor(n - 1)
        futures = [pool.submit(work, models[i], ids[rows[i]], targets[rows[i]], shares[i]) for i in range(1, n)]
        try:
            total = work(model, ids[rows[0]], targets[rows[0]], shares[0])
        finally:
            wait(futures)  # never leave workers running on restored BLAS threads
        return total + sum(future.result() for future in futures)


def compute_gradients(model, ids, targets) -> float:
    """ids, targets (B, T) -> mean loss; model.grad holds d loss / d parameters."""
    helpers = replicas(model, workers(model, ids.shape[0]) - 1)  # the ones _split will use
    if model.config.dropout > 0:
        # replicas draw from generators seeded by the model's own, so the model's
        # generator state alone fixes every mask (what --resume saves and restores)
        for replica in helpers:
            replica.set_rng(np.random.default_rng(model.rng.integers(2**63)))
    loss = _split(model, ids, targets, _chunk)
    for replica in helpers:
        model.grad += replica.grad
    return loss


def _chunk_loss(model, ids, targets, share: float) -> float:
    return share * model.loss(ids, targets)


def compute_loss(model, ids, targets) -> float:
    """ids, targets (B, T) -> mean loss, no gradients; eval mode (no dropout) is up to the caller."""
    return _split(model, ids, targets, _chunk_loss)
