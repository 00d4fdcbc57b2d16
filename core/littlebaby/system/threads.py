"""The worker threads a training step shares, and running calls on them.

NumPy releases the GIL inside its ops, so calls that are mostly NumPy work on
large arrays really run in parallel on these threads: the row chunks of a
step's forward and backward (step.py) and the pieces of the optimizer's update
(optim.py). One pool per process, made on first use and grown when a caller
needs more threads.

Before the pool's first thread starts (the command line asks at once), glibc's
malloc is asked to keep one heap for the whole process (`mallopt(M_ARENA_MAX,
1)`) unless the user chose a number (MALLOC_ARENA_MAX, GLIBC_TUNABLES). By
default each thread that allocates gets a heap of its own, and a step's arrays
freed on one thread's heap are not reused by the other's: muon's Newton-Schulz
temporaries beside the step's activations took a 2-thread baby-fast run from
1.4 to 6.0 GB and added a third to its step, mostly page faults (AMD EPYC,
docs/results.md).
"""

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor, wait

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


M_ARENA_MAX = -8  # glibc's mallopt parameter: the most heaps malloc keeps


def one_heap():
    """One malloc heap for every thread (see the module docstring); a no-op off glibc or if the user set one."""
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)
    except (OSError, AttributeError):  # not glibc: its own allocator decides
        pass


def _executor(workers: int) -> ThreadPoolExecutor:
    """The shared worker threads, grown when a caller needs more."""
    global _pool, _pool_size
    if _pool is None or _pool_size < workers:
        if _pool is None:
            one_heap()
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="littlebaby-step")
        _pool_size = workers
    return _pool


def run(calls) -> list:
    """Call each of `calls` (functions of no arguments): the first on this thread, the others on
    the pool, all at once; returns their results in order, once every call has ended."""
    if len(calls) == 1:
        return [calls[0]()]
    futures = [_executor(len(calls) - 1).submit(call) for call in calls[1:]]
    try:
        first = calls[0]()
    finally:
        wait(futures)  # never return (and restore BLAS threads, free buffers) while a worker still runs
    return [first] + [future.result() for future in futures]
