"""The world of processes a run trains on: this one alone, or N started by an MPI launcher.

`world()` returns one object with the same interface either way, so the
training code has no MPI branches: `rank`, `size`, `is_root`, `rows(n)`
(this process's share of n items), `sum(array)` (in-place all-reduce),
`max(int)`, `broadcast(array)`, `same(array)`, `agree(error)`, `abort(code)`, the part collectives of a
sharded optimizer, and `start_sum` / `finish` (a step's gradient in buckets, buckets.py). With one process
they cost nothing and mpi4py is never imported: whether a launcher started several processes is read from
the environment it sets (joining.py), and only then is mpi4py imported (and MPI initialised).

Faults must never hang a job. A rank the others never meet ends the job at its start (joining.py).
Every rank validates its inputs, then all call `agree(error_or_None)` once, before any other collective:
if any rank failed, every rank raises the first failing rank's UserError (rank 0 prints it, all exit 2).
After that, an exception on one rank calls `abort`, which ends every process of the job (MPI_Abort); a
killed rank is ended by the launcher itself, a stopped one by the deadline of training's collectives
(deadline.py).
"""

import json
import os
import socket
import sys
import time
import warnings

import numpy as np

from littlebaby.errors import UserError
from littlebaby.system import blas
from littlebaby.system.threads import cores
from littlebaby.training import deadline, joining
from littlebaby.training.joining import LAUNCHER_VARIABLES, _launcher, launched  # noqa: F401 (the world's own words)

ABORT_GRACE_SECONDS = 0.5
HOST_BYTES = 256  # a host name's room in the all-gather of host names


class SharedError(UserError):
    """A UserError that every rank raised together, from `agree`: each can simply exit 2."""


class Solo:
    """The world of one process: every collective is a no-op."""

    rank, size, local_size, is_root = 0, 1, 1, True
    agreed = False  # whether `agree` has been called (MPIWorld: the setup's collective is behind us)

    def __init__(self):
        self.reduce_seconds = 0.0  # time spent in all-reduces (always 0 here)
        self.watch = None  # while training: a deadline.Watch, and collectives end the job past its limit

    def rows(self, n: int) -> slice:
        return slice(0, n)

    def sum(self, array: np.ndarray) -> np.ndarray:
        return array

    def max(self, value: int) -> int:
        return value

    def broadcast(self, array: np.ndarray) -> np.ndarray:
        return array

    def agree(self, error: UserError | None = None):
        if error is not None:
            raise error

    def same(self, array: np.ndarray) -> bool:
        return True

    def gather(self, data: bytes) -> list[bytes]:
        """Every rank's `data` (of one length on every rank), in rank order."""
        return [data]

    def hosts(self) -> list[str]:
        return [socket.gethostname()]

    # a flat buffer in parts, one per process: part r is `rows(size)` of rank r (a sharded optimizer's)
    def all_gather(self, array: np.ndarray) -> np.ndarray:
        """Every process's part of `array` from that process, in place."""
        return array

    # non-blocking: a bucket of a step's gradient (buckets.py)
    def start_sum(self, array: np.ndarray, out: np.ndarray | None = None, counts: list | None = None):
        """Start summing `array` over the processes: in place, or (out) rank r gets counts[r] elements of the sum,
        in rank order; returns a request for `finish` (None: nothing to wait for)."""
        if out is not None:
            np.copyto(out, array[sum(counts[: self.rank]) :][: out.size])

    def finish(self, requests: list):
        """Wait for the requests of `start_sum`."""

    def gather_parts(self, part: np.ndarray, size: int) -> np.ndarray | None:
        """Rank 0: the whole array of `size` elements, from every process's `part`; None elsewhere."""
        return part.copy()

    def scatter_parts(self, whole: np.ndarray | None, out: np.ndarray) -> np.ndarray:
        """out = this process's part of rank 0's `whole` (which the other ranks need not have)."""
        return np.copyto(out, whole) or out

    def abort(self, code: int):
        """Nothing to end but this process, which the caller is already leaving."""


class MPIWorld(Solo):
    """N processes of one MPI job (COMM_WORLD), from mpi4py's buffer interface (no pickle)."""

    def __init__(self, MPI):
        super().__init__()
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.is_root = self.rank == 0
        self.control, self.questions = self.comm.Dup(), 0  # where rank 0 asks who is late (deadline.py)
        # processes on this host share its cores: threads default to cores // local_size
        self.local_size = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
        # and BLAS too, or each process's OpenBLAS would spread its GEMMs over every core of the host
        blas.set_threads(max(1, cores() // self.local_size))

    def rows(self, n: int) -> slice:
        """Contiguous shares that differ by at most one item, in rank order."""
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)

    def sum(self, array):
        self.finish([self.start_sum(array)])
        return array

    def max(self, value):
        buffer = np.array([value], dtype=np.int64)
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.MAX))
        return int(buffer[0])

    def broadcast(self, array):
        self._wait(self.comm.Ibcast(array, root=0))
        return array

    def same(self, array):
        """Whether every rank holds the same array, by its sum and sum of squares (MAX of x and -x)."""
        total, squares = float(np.sum(array, dtype=np.float64)), float(np.vdot(array, array))
        checks = np.array([total, squares, -total, -squares])
        self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, checks, op=self.MPI.MAX))
        return bool(checks[0] == -checks[2] and checks[1] == -checks[3])

    def agree(self, error=None):
        """Every rank calls this once, with its setup's UserError or None; raises the first failing rank's."""
        first = np.array([self.rank if error is not None else self.size], dtype=np.int64)
        self.comm.Allreduce(self.MPI.IN_PLACE, first, op=self.MPI.MIN)
        first, self.agreed = int(first[0]), True
        if first == self.size:
            return
        # its parts, not its text: the rank that prints it spells the keys it names as flags or as Python
        parts = (
            {"problem": error.raw_problem, "fix": error.raw_fix, "keys": list(error.keys)} if self.rank == first else {}
        )
        message = json.dumps(parts).encode()
        length = np.array([len(message)], dtype=np.int64)
        self.comm.Bcast(length, root=first)
        text = (
            np.frombuffer(message, dtype=np.uint8).copy() if self.rank == first else np.empty(int(length[0]), np.uint8)
        )
        self.comm.Bcast(text, root=first)
        parts = json.loads(text.tobytes().decode(errors="replace"))
        raise SharedError(parts["problem"], parts["fix"], parts["keys"])

    def gather(self, data):
        mine = np.frombuffer(data, dtype=np.uint8).copy()
        everyone = np.empty((self.size, len(mine)), dtype=np.uint8)
        self.comm.Allgather(mine, everyone)
        return [bytes(row) for row in everyone]

    def hosts(self):
        name = np.zeros(HOST_BYTES, dtype=np.uint8)
        raw = socket.gethostname().encode()[:HOST_BYTES]
        name[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        names = np.empty((self.size, HOST_BYTES), dtype=np.uint8)
        self.comm.Allgather(name, names)
        return [bytes(row).rstrip(b"\0").decode(errors="replace") for row in names]

    def _wait(self, request):
        """A collective's end: at once outside training, or within the watch's deadline (deadline.py)."""
        request.Wait() if self.watch is None else deadline.wait(self, request)

    def _parts(self, size: int) -> tuple[list, list]:
        """(counts, starts) of every rank's part of a buffer of `size` elements, as `rows` cuts it."""
        starts = [size * rank // self.size for rank in range(self.size + 1)]
        return [b - a for a, b in zip(starts[:-1], starts[1:])], starts[:-1]

    def start_sum(self, array, out=None, counts=None):
        started = time.perf_counter()
        if out is None:
            request = self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
        else:
            request = self.comm.Ireduce_scatter(array, out, counts, op=self.MPI.SUM)
        self.reduce_seconds += time.perf_counter() - started
        return request

    def finish(self, requests):
        started = time.perf_counter()
        for request in requests:
            self._wait(request)
        self.reduce_seconds += time.perf_counter() - started

    def all_gather(self, array):
        started = time.perf_counter()
        self._wait(self.comm.Iallgatherv(self.MPI.IN_PLACE, [array, self._parts(array.size)]))
        self.reduce_seconds += time.perf_counter() - started
        return array

    def gather_parts(self, part, size):
        whole = np.empty(size, dtype=part.dtype) if self.is_root else None
        self._wait(self.comm.Igatherv(part, [whole, self._parts(size)] if self.is_root else None, root=0))
        return whole

    def scatter_parts(self, whole, out):
        self._wait(self.comm.Iscatterv([whole, self._parts(whole.size)] if self.is_root else None, out, root=0))
        return out

    def abort(self, code):
        sys.stdout.flush()
        sys.stderr.flush()
        # the launcher forwards each rank's output through pipes; the abort tears them down,
        # so give it a moment to pass on the message that says why
        time.sleep(ABORT_GRACE_SECONDS)
        self.comm.Abort(code)
        os._exit(code)  # MPI_Abort may return before the launcher ends this process: nothing more is said


_world = None


def world():
    """This process's world, made once: MPI only when a launcher started more than one process."""
    global _world
    if _world is None:
        size, _ = launched()
        _world = _mpi_world() if size > 1 else Solo()
    return _world


def _mpi_world():
    try:
        import mpi4py
    except ImportError:
        raise UserError(
            f"started by an MPI launcher with {launched()[0]} processes, but mpi4py is not installed",
            "pip install 'littlebaby[mpi]' (or mpi4py built against your system MPI)",
        ) from None
    mpi4py.rc.thread_level = "funneled"  # only the main thread calls MPI; step threads only run NumPy
    watchdog = joining.watchdog(*launched())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mpi4py's own word on a mismatch: ours follows
        from mpi4py import MPI
    if MPI.COMM_WORLD.Get_size() > 1:
        MPI.COMM_WORLD.Barrier()  # every rank is in: no collective after this one waits on a rank that never came
    joining.joined(watchdog)

    if MPI.COMM_WORLD.Get_size() == 1:
        size, _, variable = _launcher()
        if variable == "SLURM_STEP_NUM_TASKS":  # a Slurm job's variables, not necessarily a launch of N
            return Solo()
        # every process would train a run of its own: refuse, on every one (rank 0 says it)
        # two causes look alike from inside: a variable left over from another job, and a launcher
        # of another MPI than mpi4py's (each of its processes then sees a world of one)
        raise UserError(
            f"{variable}={size} says an MPI launcher started {size} processes, but MPI sees only this one: "
            f"the variable is left over from another job, or mpi4py uses another MPI than the launcher "
            f"({MPI.Get_library_version().splitlines()[0].strip()})",
            f"unset {variable} to train on one process, or launch with the mpiexec of the MPI that mpi4py uses "
            "(the mpich wheel's is in the environment's bin/)",
        )
    world = MPIWorld(MPI)
    _abort_on_uncaught(world)
    return world


def _abort_on_uncaught(world):
    """An exception nobody caught (a script calling littlebaby.train, say) ends the whole job:
    the other ranks would otherwise wait in their next collective forever."""
    previous = sys.excepthook

    def hook(kind, value, trace):
        previous(kind, value, trace)
        sys.stderr.write(f"littlebaby: rank {world.rank} of {world.size} failed; ending the job\n")
        sys.stderr.flush()
        world.abort(130 if issubclass(kind, KeyboardInterrupt) else 1)

    sys.excepthook = hook


def describe(world, threads: int) -> str:
    """'2 processes x 1 thread' for the run's first line."""
    processes = f"{world.size} process" + ("es" if world.size > 1 else "")
    return f"{processes} x {threads} thread" + ("s" if threads > 1 else "")


def threads_per_process(threads: int, cores: int) -> int:
    """The config's `threads`, or (0) this process's share of the host's cores."""
    return threads or max(1, cores // world().local_size)
