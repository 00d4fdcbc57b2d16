"""A deadline on training's collectives: a rank that stops (SIGSTOP, a hung node) ends the job instead of leaving
the others waiting in an all-reduce for ever.

While the trainer runs it sets `world.watch`; every collective then starts non-blocking and `wait` polls it:
MPI's Test at once for SPIN_SECONDS (as MPI_Wait does: most collectives end by then), then a Test and a sleep
that doubles from FIRST_PAUSE to LAST_PAUSE, so a waiting rank neither spins a core nor delays a collective by
more than a millisecond. Past the limit (`rank_timeout` seconds; 0, the
default: 10 x the median of the recent steps, at least FLOOR_SECONDS), rank 0 asks every other rank whether it
is waiting too (a small message on a communicator of its own, answered from the same loop). Those that do not
answer within GRACE seconds are late: rank 0 raises `RankTimeout` naming them, and the session adds the last
checkpoint kept; the CLI prints it in one line and ends the job (exit 2). If rank 0 is the one that stopped,
another rank gives up LATE_FACTOR GRACE later and ends the job itself. A stop signal (SIGTERM to mpiexec,
Ctrl-C) that arrives during a wait quits if the wait has not ended 10 x the median step later (at least GRACE
seconds): a graceful stop needs every rank.
"""

import collections
import statistics
import time

import numpy as np

from littlebaby.errors import UserError
from littlebaby.training.stopping import QuitNow

FLOOR_SECONDS, STEPS_FACTOR, RECENT_STEPS = 60.0, 10.0, 20
SPIN_SECONDS = 1e-3  # tests without a pause at first
FIRST_PAUSE, LAST_PAUSE = 2e-5, 1e-3  # then seconds between two tests of a collective
GRACE, LATE_FACTOR = 2.0, 3  # seconds a rank has to answer rank 0; how many of them the others add to the limit
ASK, ANSWER = 1, 2  # message tags on the control communicator


class RankTimeout(UserError):
    """Ranks that did not reach a collective in time, raised on rank 0."""


class Watch:
    """What `wait` needs from the trainer: the limit, the stop request, the step in progress."""

    def __init__(self, rank_timeout: float, stop):
        self.fixed, self.stop, self.step = rank_timeout, stop, 0
        self.recent = collections.deque(maxlen=RECENT_STEPS)  # seconds of the last steps

    def stepped(self, step: int, seconds: float):
        self.step = step
        self.recent.append(seconds)

    def signal_limit(self) -> float:
        """How long a wait may go on once a stop signal came: 10 x the median step, at least GRACE (a checkpoint
        rank 0 is writing still ends), at most the limit."""
        recent = STEPS_FACTOR * statistics.median(self.recent) if self.recent else 0.0
        return min(self.limit(), max(GRACE, recent))

    def limit(self) -> float:
        if self.fixed:
            return self.fixed
        return max(FLOOR_SECONDS, STEPS_FACTOR * statistics.median(self.recent)) if self.recent else FLOOR_SECONDS


def wait(world, request):
    """Poll `request` (a non-blocking collective of world) to its end, or end the job past the deadline."""
    watch, started, pause, signalled = world.watch, time.monotonic(), FIRST_PAUSE, None
    while not request.Test():
        now = time.monotonic()
        if now - started < SPIN_SECONDS:  # most collectives end within it: test again at once, as MPI_Wait does
            continue
        if not world.is_root:
            _answer(world)
        if watch.stop.signal is not None and watch.stop.signal != "request":
            signalled = signalled or now
            if now - signalled > watch.signal_limit():  # the others cannot stop with this one: quit, ending them
                raise QuitNow(watch.stop.signal)
        limit = watch.limit()
        if world.is_root and now - started > limit:
            late = _late(world, request)
            if late is None:
                return  # it ended while rank 0 asked
            raise RankTimeout(
                f"rank{'s' * (len(late) > 1)} {', '.join(map(str, late))} of {world.size} did not reach step "
                f"{watch.step + 1}'s collective within {limit:g} s (stopped, or a hung machine): the job ends",
                f"{{rank_timeout=}}SECONDS waits longer (0: 10 x the median step, at least {FLOOR_SECONDS:g} s)",
                "rank_timeout",
            )
        if not world.is_root and now - started > limit + LATE_FACTOR * GRACE:
            raise UserError(
                f"rank 0 of {world.size} neither reached step {watch.step + 1}'s collective nor ended the job "
                f"within {limit:g} s (stopped, or a hung machine): the job ends",
                "resume from rank 0's last checkpoint with {resume=}RUN",
                "resume",
            )
        time.sleep(pause)
        pause = min(2 * pause, LAST_PAUSE)


def _answer(world):
    """Answer rank 0's questions: this rank is waiting in a collective (not stopped)."""
    while world.control.Iprobe(source=0, tag=ASK):
        question = np.empty(1, dtype=np.int64)
        world.control.Recv(question, source=0, tag=ASK)
        world.control.Send(question, dest=0, tag=ANSWER)  # 8 bytes: sent eagerly, never blocks


def _late(world, request) -> list[int] | None:
    """The ranks that do not answer within GRACE seconds (if all answer, the collective itself is stuck: all
    are named); None if the collective ends meanwhile."""
    world.questions += 1
    question = np.array([world.questions], dtype=np.int64)
    sent = [world.control.Isend(question, dest=rank, tag=ASK) for rank in range(1, world.size)]
    waiting, deadline, answer = set(), time.monotonic() + GRACE, np.empty(1, dtype=np.int64)
    status = world.MPI.Status()
    while time.monotonic() < deadline and len(waiting) < world.size - 1:
        if request.Test():
            world.MPI.Request.Waitall(sent)
            return None
        while world.control.Iprobe(source=world.MPI.ANY_SOURCE, tag=ANSWER, status=status):
            world.control.Recv(answer, source=status.Get_source(), tag=ANSWER)
            if answer[0] == world.questions:  # an answer to an earlier question says nothing of now
                waiting.add(status.Get_source())
        time.sleep(LAST_PAUSE)
    late = [rank for rank in range(1, world.size) if rank not in waiting]
    return late or list(range(1, world.size))
