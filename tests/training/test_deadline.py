"""A frozen rank ends the job (`rank_timeout`, training/deadline.py) instead of leaving the others waiting for ever.

The in-process tests poll a stand-in request; the MPI tests stop rank 1 with SIGSTOP (it sends the signal to
itself after a few steps, and first leaves a file saying so) and time how long the job takes to end.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from littlebaby.training import deadline, distributed
from littlebaby.training.stopping import QuitNow, StopRequest

TIMEOUT = 120
MPIEXEC = str(Path(sys.executable).parent / "mpiexec") if (Path(sys.executable).parent / "mpiexec").exists() else None
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec: install the mpi extra (uv sync --all-extras)")
LAUNCHER_NAMES = [name for pair in distributed.LAUNCHER_VARIABLES for name in pair]


def test_the_limit_is_the_config_s_or_ten_recent_median_steps_at_least_a_minute():
    assert deadline.Watch(5.0, StopRequest()).limit() == 5.0
    assert deadline.Watch(5.0, StopRequest()).signal_limit() == deadline.GRACE
    watch = deadline.Watch(0.0, StopRequest())
    assert watch.limit() == deadline.FLOOR_SECONDS  # before any step
    for seconds in (0.5, 0.6, 30.0):
        watch.stepped(1, seconds)
    assert watch.limit() == deadline.FLOOR_SECONDS  # 10 x 0.6 s
    assert watch.signal_limit() == pytest.approx(6.0)  # after a stop signal: 10 median steps, at least GRACE
    for seconds in (9.0, 9.0, 9.0):
        watch.stepped(2, seconds)
    assert watch.limit() == pytest.approx(90.0)  # 10 x the median, 9 s: one slow step does not move it


class Never:
    """A collective that never ends: notes when it is tested."""

    def __init__(self):
        self.tested = []

    def Test(self):
        self.tested.append(time.monotonic())
        return False


class Waiting(distributed.Solo):
    """A rank other than 0 that waits (it answers no question: there is no control communicator)."""

    rank, size, is_root = 1, 2, False


def test_a_waiting_rank_sleeps_between_tests_and_quits_at_a_signal(monkeypatch):
    monkeypatch.setattr(deadline, "GRACE", 0.5)
    monkeypatch.setattr(deadline, "_answer", lambda world: None)
    world, request, stop = Waiting(), Never(), StopRequest()
    world.watch = deadline.Watch(600.0, stop)
    stop.request("SIGTERM")  # as the handler does when mpiexec forwards SIGTERM
    started = time.monotonic()
    with pytest.raises(QuitNow) as quit:
        deadline.wait(world, request)
    assert quit.value.signal == "SIGTERM" and 0.5 <= time.monotonic() - started < 1.5
    # after a first millisecond of tests, a sleep between tests (a hot spin would test millions of times)
    later = [t for t in request.tested if t > started + 0.1]
    assert 0 < len(later) < 1.5 * (request.tested[-1] - started - 0.1) / deadline.LAST_PAUSE + 10


def test_a_rank_past_the_limit_without_word_from_rank_0_ends_the_job(monkeypatch):
    monkeypatch.setattr(deadline, "GRACE", 0.1)
    monkeypatch.setattr(deadline, "_answer", lambda world: None)
    world = Waiting()
    world.watch = deadline.Watch(0.2, StopRequest())
    with pytest.raises(deadline.UserError, match="rank 0 of 2 neither reached step 1's collective"):
        deadline.wait(world, Never())


# -- under mpiexec ------------------------------------------------------------------------
def frozen_job(tmp_path, rank_timeout: float, rank: int = 1) -> subprocess.Popen:
    """A training job of 2 processes whose `rank` stops itself (SIGSTOP) before step 4 (checkpoints every 2)."""
    job = tmp_path / "job.py"
    job.write_text(
        textwrap.dedent(f"""
        import os, signal, sys
        from littlebaby.training import distributed
        from littlebaby.training import trainer as training
        from littlebaby.cli import main
        original = training.Trainer.train_step
        def train_step(self):
            if distributed.launched()[1] == {rank} and self.step == 3:
                open({str(tmp_path / "stopped")!r}, "w").close()
                os.kill(os.getpid(), signal.SIGSTOP)
            return original(self)
        training.Trainer.train_step = train_step
        sys.exit(main(sys.argv[1:]))
    """)
    )
    keys = ["max_steps=100000", "checkpoint_interval=2", "eval_interval=1000", f"rank_timeout={rank_timeout}"]
    command = [MPIEXEC, "-n", "2", sys.executable, str(job), "train", "--config", "tiny", "--quiet"]
    command += [a for key in keys for a in ("--set", key)] + ["--home", str(tmp_path / "home")]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_NAMES}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def until_frozen(tmp_path, job) -> float:
    """When rank 1 stopped itself."""
    deadline_ = time.monotonic() + TIMEOUT
    while not (tmp_path / "stopped").exists() and job.poll() is None and time.monotonic() < deadline_:
        time.sleep(0.05)
    assert job.poll() is None, job.communicate()
    return time.monotonic()


@needs_mpi
def test_a_frozen_rank_ends_the_job_naming_it_and_the_checkpoint_kept(tmp_path):
    job = frozen_job(tmp_path, rank_timeout=3)
    try:
        frozen = until_frozen(tmp_path, job)
        out, err = job.communicate(timeout=TIMEOUT)
    finally:
        job.kill()
    took = time.monotonic() - frozen
    assert job.returncode == 2, err
    assert 3 <= took < 3 + deadline.GRACE + 5, took  # the limit, rank 0's question, the abort: seconds, not for ever
    ours = [line for line in err.splitlines() if line.startswith("littlebaby:")]
    assert len(ours) == 1 and "rank 1 of 2 did not reach step 4's collective within 3 s" in ours[0], err
    assert "the checkpoint of step 2 is intact: --resume" in ours[0]
    assert (next((tmp_path / "home" / "checkpoints").iterdir()) / "step_000000002" / "manifest.json").exists()


@needs_mpi
def test_a_frozen_rank_0_is_named_by_another_rank_which_ends_the_job(tmp_path):
    job = frozen_job(tmp_path, rank_timeout=3, rank=0)
    try:
        frozen = until_frozen(tmp_path, job)
        out, err = job.communicate(timeout=TIMEOUT)
    finally:
        job.kill()
    assert job.returncode == 2, err
    assert time.monotonic() - frozen < 3 + deadline.LATE_FACTOR * deadline.GRACE + 5
    ours = [line for line in err.splitlines() if line.startswith("littlebaby:")]
    assert len(ours) == 1 and "rank 0 of 2 neither reached step 4's collective" in ours[0], err


@needs_mpi
def test_sigterm_to_mpiexec_ends_a_job_with_a_frozen_rank(tmp_path):
    job = frozen_job(tmp_path, rank_timeout=600)
    try:
        until_frozen(tmp_path, job)
        time.sleep(0.5)  # rank 0 waits in the step's all-reduce
        asked = time.monotonic()
        job.send_signal(signal.SIGTERM)
        out, err = job.communicate(timeout=TIMEOUT)
    finally:
        job.kill()
    assert time.monotonic() - asked < deadline.GRACE + 5  # not the 600 s limit
    assert job.returncode == 143 and "littlebaby: interrupted" in err, err


@needs_mpi
def test_the_polling_benchmark_runs():
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "polling.py"
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_NAMES}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert done.returncode == 0, done.stderr
    assert "| a stop flag (1 int64) |" in done.stdout and "| baby-large (4,800,577 float32) |" in done.stdout
