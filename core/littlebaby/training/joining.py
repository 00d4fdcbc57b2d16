"""The start of an MPI job: whether a launcher started this process (`launched`), and every rank meets the
others, or the job ends with a line saying why.

MPI's start (MPI_Init) waits for every process of the job, holding Python's lock while it waits. A rank that
never starts training (an MPMD job whose other part is another program, another littlebaby command, a rank
that died first) would hold the others there for ever. Before MPI starts, each rank starts a watchdog
process; once every rank has met in a first barrier it leaves quietly. If they have not met within
LITTLEBABY_JOIN_SECONDS (default 120), rank 0's watchdog prints one line and ends it; the launcher then ends
the rest of the job.
"""

import math
import os
import subprocess
import sys

from littlebaby.errors import UserError

# (size, rank) variables that launchers set in each process they start
LAUNCHER_VARIABLES = (
    ("PMI_SIZE", "PMI_RANK"),  # MPICH's hydra mpiexec (the mpich wheel), Intel MPI, srun --mpi=pmi2
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),  # Open MPI's mpirun
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),  # MVAPICH
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),  # srun with PMIx (set inside a job step only)
)
JOIN_VARIABLE, JOIN_SECONDS = "LITTLEBABY_JOIN_SECONDS", 120.0  # how long a rank waits for the others to start


def launched(environ=None) -> tuple[int, int]:
    """(size, rank) that the launcher's environment announces; (1, 0) without a launcher."""
    size, rank, _ = _launcher(environ)
    return size, rank


def _launcher(environ=None) -> tuple[int, int, str | None]:
    """(size, rank, the size variable that said so)."""
    environ = os.environ if environ is None else environ
    for size_name, rank_name in LAUNCHER_VARIABLES:
        size, rank = _count(environ.get(size_name)), _count(environ.get(rank_name, "0"))
        # a pair no launcher would set (rank 5 of 2, "²", "-1") is stale or hand-made: not a launch
        if size is not None and rank is not None and rank < size:
            return size, rank, size_name
    return 1, 0, None


def _count(text: str | None) -> int | None:
    """A launcher's count: ASCII digits only (str.isdigit also takes "²", which int() refuses,
    and "٢", which int() reads but MPI_Init aborts on)."""
    return int(text) if text and text.isascii() and text.isdigit() else None


def join_seconds(environ=None) -> float:
    """How long a rank waits for every other to start (LITTLEBABY_JOIN_SECONDS, a positive number)."""
    text = (os.environ if environ is None else environ).get(JOIN_VARIABLE)
    if text is None:
        return JOIN_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UserError(f"{JOIN_VARIABLE}={text!r} is not a positive number of seconds", f"unset {JOIN_VARIABLE}")
    return seconds


# The watchdog is a process of its own: MPI_Init holds Python's lock while it waits, so no thread of this one
# could speak. It waits for a byte or the end of its input (this process met the others, or died); if neither
# comes in time it says why and ends this process, and the launcher then ends the rest of the job.
_WATCHDOG = """
import os, select, signal, sys
parent, seconds, line = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], seconds)[0]:
    os.write(2, line.encode() + b"\\n")
    os.kill(parent, signal.SIGKILL)
"""


def watchdog(size: int, rank: int) -> subprocess.Popen:
    """A watchdog that ends this process if the job's ranks have not all met before it fires. Rank 0 says why;
    the others wait two seconds longer, so that the line comes once whether or not rank 0 is a trainer."""
    seconds = join_seconds()
    line = (
        f"littlebaby: error: rank {rank} of {size}: the job's other processes did not all start training within "
        f"{seconds:g} s (MPI's start waits for every rank); start every rank with the same littlebaby train "
        f"command, or set {JOIN_VARIABLE} higher if the machines start slowly"
    )
    wait = seconds + (0.0 if rank == 0 else 2.0)
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(wait), line], stdin=subprocess.PIPE, close_fds=True
    )


def joined(watchdog: subprocess.Popen):
    """Every rank is in: the watchdog leaves quietly."""
    watchdog.stdin.close()
    watchdog.wait()
