"""Data-parallel training: N processes are the same run as one, only faster; faults end the job.

The in-process tests split a batch over simulated ranks (each rank's part is
computed with its own world object, and the parts are summed as the
all-reduce would). The MPI tests run the CLI under the mpich wheel's mpiexec
(installed by the `mpi` extra, which .ci/run installs), every subprocess under
a timeout so a hang fails the test instead of stalling CI.

Tolerances: the tiny config trains in float64, so the only differences
between 1 and N processes are the order of float additions (the gradient is
summed over processes instead of over one process's threads). Per-step losses
are compared at the report's 5 decimals (1e-5 absolute, the rounding of the
record itself); final parameters to 1e-5 relative to each tensor's largest
entry, far above float64 rounding after 20 AdamW steps (~1e-13) and far below
what one different dropout mask or batch row would change (~1e-3).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from littlebaby import api
from littlebaby.nn.ops.dropout import RowStreams
from littlebaby.training import distributed, joining
from littlebaby.training.step import compute_gradients, step_gradients

TIMEOUT = 120  # seconds for any one subprocess: a hang fails, never stalls
LAUNCHER_NAMES = [name for pair in distributed.LAUNCHER_VARIABLES for name in pair]


def _mpiexec():
    """The mpiexec next to this Python (the mpich wheel's), else one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()


def _ends_with_pytest():
    """In an mpiexec child before it runs: the kernel sends it SIGTERM if pytest dies (Linux's
    PR_SET_PDEATHSIG), which mpiexec forwards to its ranks; a killed pytest otherwise left a
    100,000-step job training on."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


needs_mpi = pytest.mark.skipif(
    MPIEXEC is None, reason="no mpiexec: install the mpi extra (uv sync --all-extras, or pip install '.[mpi]')"
)


def clean_env():
    """This environment without any launcher's variables (pytest itself might run under one)."""
    return {k: v for k, v in os.environ.items() if k not in LAUNCHER_NAMES}


# -- the world, without MPI ---------------------------------------------------------------
def test_launcher_variables_announce_the_world():
    assert distributed.launched({}) == (1, 0)
    assert distributed.launched({"PMI_SIZE": "4", "PMI_RANK": "3"}) == (4, 3)
    assert distributed.launched({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"}) == (2, 1)
    assert distributed.launched({"PMI_SIZE": ""}) == (1, 0)


def test_plain_training_never_imports_mpi4py(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from littlebaby.cli import main
        code = main(["train", "--config", "tiny", "--quiet", "--home", {str(tmp_path)!r}, "--set", "max_steps=2"])
        print("mpi4py" in sys.modules, code)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, env=clean_env())
    assert out.stdout.splitlines()[-1] == "False 0", out.stderr
    assert "1 process x" in out.stdout


class Rank(distributed.Solo):
    """Rank `rank` of a simulated world of `size`: its rows, and an all-reduce left to the test."""

    def __init__(self, rank, size):
        super().__init__()
        self.rank, self.size = rank, size

    rows = distributed.MPIWorld.rows


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_ranks_parts_sum_to_the_whole_batch(dropout, tiny_model, tiny_batch):
    """What the all-reduce sums: every split of a step's rows over ranks gives the one-process gradient."""
    inputs, targets = tiny_batch()
    whole = tiny_model(dropout=dropout)
    loss = step_gradients(whole, inputs, targets, 7, distributed.Solo())
    for size in (2, 3, 4):
        model = tiny_model(dropout=dropout)
        grads, losses = [], []
        for rank in range(size):
            losses.append(step_gradients(model, inputs, targets, 7, Rank(rank, size)))
            grads.append(model.grad.copy())
        np.testing.assert_allclose(sum(grads), whole.grad, rtol=1e-10, atol=1e-14)
        assert sum(losses) == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("threads", [2, 3])
def test_dropout_masks_do_not_depend_on_threads_or_micro_batches(threads, tiny_model, tiny_batch):
    inputs, targets = tiny_batch()
    one = tiny_model(dropout=0.3)
    loss = step_gradients(one, inputs, targets, 2, distributed.Solo())
    split = tiny_model(dropout=0.3, threads=threads)
    assert step_gradients(split, inputs, targets, 2, distributed.Solo(), accumulation=2) == pytest.approx(
        loss, rel=1e-12
    )
    np.testing.assert_allclose(split.grad, one.grad, rtol=1e-10, atol=1e-14)
    other_step = tiny_model(dropout=0.3)
    assert step_gradients(other_step, inputs, targets, 3, distributed.Solo()) != pytest.approx(loss, rel=1e-6)


def test_row_streams_draw_each_row_from_its_own_stream():
    whole = RowStreams(5, 1, range(0, 4)).random((4, 3, 2))
    parts = [RowStreams(5, 1, range(0, 1)).random((1, 3, 2)), RowStreams(5, 1, range(1, 4)).random((3, 3, 2))]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    np.testing.assert_array_equal(RowStreams(5, 1, range(4)).part(slice(1, 3)).random((2, 3, 2)), whole[1:3])
    assert not np.array_equal(whole[0], whole[1])
    with pytest.raises(ValueError):
        RowStreams(5, 1, range(2)).random((3, 1))


def test_a_rank_without_rows_adds_nothing(tiny_model, tiny_batch):
    inputs, targets = tiny_batch(rows=1)
    model = tiny_model()
    assert step_gradients(model, inputs, targets, 0, Rank(0, 2)) == 0.0 and not model.grad.any()


def test_compute_gradients_restores_the_models_own_generator(tiny_model, tiny_batch):
    model = tiny_model(dropout=0.2)
    own = model.rng
    inputs, targets = tiny_batch()
    compute_gradients(model, inputs, targets, streams=RowStreams(0, 0, range(6)))
    assert all(block.rng is own for block in model.every_block)


def train_in_process(home, **keys):
    keys = {"max_steps": 12, "eval_interval": 4, "dropout": 0.1, "warmup_steps": 2} | keys
    result = api.train("tiny", overrides=keys, home=home)
    params = load_file(str(Path(home) / "models" / f"model_{result.name}.safetensors"))
    return [s["loss"] for s in result.report.data["steps"]], params


def assert_same_run(a, b):
    (losses_a, params_a), (losses_b, params_b) = a, b
    np.testing.assert_allclose(losses_a, losses_b, rtol=0, atol=1e-5)
    for name, value in params_a.items():
        np.testing.assert_allclose(params_b[name], value, rtol=0, atol=1e-5 * np.abs(value).max(), err_msg=name)


def test_grad_accum_steps_is_the_same_as_one_big_batch(tmp_path):
    big = train_in_process(tmp_path / "a", batch_size=8)
    accumulated = train_in_process(tmp_path / "b", batch_size=8, grad_accum_steps=2)
    assert_same_run(big, accumulated)
    assert_same_run(big, train_in_process(tmp_path / "c", batch_size=8, grad_accum_steps=3, threads=2))


def test_dropout_runs_are_deterministic(tmp_path):
    first = train_in_process(tmp_path / "a")
    again = train_in_process(tmp_path / "b")
    assert first[0] == again[0]
    assert all(np.array_equal(first[1][k], again[1][k]) for k in first[1])


# -- under mpiexec ------------------------------------------------------------------------
def littlebaby(home, *args, processes=1, script=None, timeout=TIMEOUT):
    """Run the CLI (or a script that calls it) on `processes` processes; returns the CompletedProcess."""
    program = [sys.executable, str(script)] if script else [sys.executable, "-m", "littlebaby.cli"]
    command = program + list(args) + ["--home", str(home)]
    if processes > 1:
        command = [MPIEXEC, "-n", str(processes)] + command
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=clean_env(), preexec_fn=_ends_with_pytest
    )


def train_args(*sets):
    """A tiny run's train arguments; `sets` ("key=value") replace the defaults (a key may be given once)."""
    keys = dict(key.split("=", 1) for key in ["max_steps=20", "eval_interval=5", "eval_windows=12", "warmup_steps=2"])
    keys.update(key.split("=", 1) for key in sets)
    return ["train", "--config", "tiny", "--quiet"] + [a for k, v in keys.items() for a in ("--set", f"{k}={v}")]


def steps_recorded(outputs) -> bool:
    """Whether a report in outputs holds a step record yet."""
    for path in outputs.glob("report_*.json"):
        try:
            return bool(json.loads(path.read_text()).get("steps"))
        except ValueError:  # cannot happen with atomic writes; be safe while polling
            return False
    return False


def run_of(home):
    """(report, parameters) of the one run in home; there must be exactly one set of files."""
    reports = list((Path(home) / "outputs").glob("report_*.json"))
    models = list((Path(home) / "models").glob("model_*.safetensors"))
    configs_ = list((Path(home) / "configs").glob("config_*.json"))
    assert len(reports) == len(models) == len(configs_) == 1, (reports, models, configs_)
    assert len(list((Path(home) / "checkpoints").iterdir())) == 1  # one run's checkpoints, not one per rank
    return json.loads(reports[0].read_text()), load_file(str(models[0]))


def assert_same_files(home_a, home_b):
    (report_a, params_a), (report_b, params_b) = run_of(home_a), run_of(home_b)
    assert_same_run(
        ([s["loss"] for s in report_a["steps"]], params_a), ([s["loss"] for s in report_b["steps"]], params_b)
    )
    assert [v["loss"] for v in report_a["val"]] == pytest.approx([v["loss"] for v in report_b["val"]], abs=1e-5)
    return report_a, report_b


@needs_mpi
@pytest.mark.parametrize("dropout", ["0.0", "0.1"])
def test_two_processes_train_the_same_run_as_one(tmp_path, dropout):
    one = littlebaby(tmp_path / "one", *train_args(f"dropout={dropout}"))
    two = littlebaby(tmp_path / "two", *train_args(f"dropout={dropout}", "threads=1"), processes=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    _, report = assert_same_files(tmp_path / "one", tmp_path / "two")
    assert report["world"]["processes"] == 2 and len(report["world"]["hosts"]) == 2
    assert report["world"]["threads_per_process"] == 1
    assert all(s["allreduce_seconds"] >= 0 for s in report["steps"])
    assert two.stdout.count("2 processes x 1 thread") == 1  # the first line, printed once
    assert two.stdout.count("sample:") == 1 and two.stdout.count("wrote ") == 1


@needs_mpi
@pytest.mark.parametrize(
    "processes, sets",
    [(3, ["threads=1"]), (2, ["threads=2", "grad_accum_steps=2"]), (3, ["threads=2", "grad_accum_steps=3"])],
)
def test_buckets_summed_during_the_backward_pass_train_the_same_run_as_one(tmp_path, processes, sets):
    """Every step sums its gradient in buckets as the layers finish (buckets.py): three blocks, so several
    buckets, each the sum over a process's threads and only that of the last micro-batch."""
    deeper = ["dropout=0.1", "n_layers=3"]
    one = littlebaby(tmp_path / "one", *train_args(*deeper))
    many = littlebaby(tmp_path / "many", *train_args(*deeper, *sets), processes=processes)
    assert one.returncode == 0 and many.returncode == 0, one.stderr + many.stderr
    _, report = assert_same_files(tmp_path / "one", tmp_path / "many")
    assert report["world"]["processes"] == processes


@needs_mpi
@pytest.mark.parametrize("first, then", [(1, 2), (2, 1)])
def test_resume_on_another_number_of_processes(tmp_path, first, then):
    # min_lr = lr: a constant rate after warmup, so the schedule does not depend on max_steps
    # and 10 steps then 10 more are the same run as 20 at once
    constant = ["dropout=0.1", "lr=0.01", "min_lr=0.01"]
    straight = littlebaby(tmp_path / "straight", *train_args(*constant))
    half = littlebaby(tmp_path / "split", *train_args(*constant, "max_steps=10"), processes=first)
    rest = littlebaby(
        tmp_path / "split", "train", "--resume", "last", "--quiet", "--set", "max_steps=20", processes=then
    )
    for done in (straight, half, rest):
        assert done.returncode == 0, done.stderr
    report, _ = assert_same_files(tmp_path / "split", tmp_path / "straight")
    assert report["resumed"] == [10] and report["world"]["processes"] == then


@needs_mpi
def test_muon_on_two_processes_then_resumed_on_one_is_the_run_on_one(tmp_path):
    pytest.importorskip("littlebaby_optimizer_muon", reason="littlebaby-optimizer-muon is not installed")
    constant = ["dropout=0.1", "lr=0.01", "min_lr=0.01", "c_optimizer=muon"]
    straight = littlebaby(tmp_path / "straight", *train_args(*constant))
    half = littlebaby(tmp_path / "split", *train_args(*constant, "max_steps=10"), processes=2)
    rest = littlebaby(tmp_path / "split", "train", "--resume", "last", "--quiet", "--set", "max_steps=20")
    for done in (straight, half, rest):
        assert done.returncode == 0, done.stderr
    report, _ = assert_same_files(tmp_path / "split", tmp_path / "straight")
    assert report["resumed"] == [10] and report["config"]["c_optimizer"] == "muon"
    switched = littlebaby(tmp_path / "split", "train", "--resume", "last", "--set", "c_optimizer=adamw")
    assert switched.returncode == 2 and len(switched.stderr.splitlines()) == 1, switched.stderr
    assert "--set c_optimizer" in switched.stderr or "c_optimizer" in switched.stderr


def script(tmp_path, body):
    """A Python file that runs `body` (with `rank` set from the launcher), then the CLI's main."""
    path = tmp_path / "job.py"
    path.write_text(
        textwrap.dedent("""
        import os, signal, sys
        from littlebaby.training import distributed
        from littlebaby.training import trainer as training
        from littlebaby.cli import main
        rank = distributed.launched()[1]
        original = training.Trainer.train_step
    """)
        + textwrap.dedent(body)
        + "\nsys.exit(main(sys.argv[1:]))\n"
    )
    return path


@needs_mpi
def test_a_rank_that_raises_ends_the_job(tmp_path):
    job = script(
        tmp_path,
        """
        def train_step(self):
            if rank == 1 and self.step == 3:
                raise RuntimeError("a bug on rank 1")
            return original(self)
        training.Trainer.train_step = train_step
    """,
    )
    started = time.monotonic()
    done = littlebaby(tmp_path / "home", *train_args("max_steps=100000"), processes=2, script=job, timeout=60)
    assert done.returncode != 0 and time.monotonic() - started < 30  # seconds, not the test's timeout
    assert "rank 1 of 2 failed; ending the job" in done.stderr and "a bug on rank 1" in done.stderr


@needs_mpi
def test_a_killed_rank_ends_the_job(tmp_path):
    job = script(
        tmp_path,
        """
        def train_step(self):
            if rank == 1 and self.step == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self)
        training.Trainer.train_step = train_step
    """,
    )
    started = time.monotonic()
    done = littlebaby(
        tmp_path / "home", *train_args("max_steps=30", "checkpoint_interval=2"), processes=2, script=job, timeout=60
    )
    assert done.returncode != 0 and "signal 9" in done.stdout + done.stderr
    assert time.monotonic() - started < 30  # seconds, not the test's timeout
    # rank 0's checkpoint of step 2 is intact: the run goes on from it, on one process
    again = littlebaby(tmp_path / "home", "train", "--resume", "last", "--quiet")
    assert again.returncode == 0 and "resuming at step 2" in again.stdout, again.stderr


@needs_mpi
def test_a_stop_asked_of_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    job = script(
        tmp_path,
        """
        def train_step(self):
            record = original(self)
            if rank == 1 and self.step == 5:
                self.stop.request("SIGTERM")  # as SIGTERM delivered to rank 1 alone would
            return record
        training.Trainer.train_step = train_step
    """,
    )
    done = littlebaby(tmp_path / "home", *train_args("max_steps=100000"), processes=2, script=job)
    report, _ = run_of(tmp_path / "home")
    assert report["status"] == "interrupted" and report["steps_done"] == 5, done.stderr
    assert done.stdout.count("interrupted at step 5") == 1 and "(SIGTERM)" in done.stdout
    assert done.returncode == 143  # every rank exits with the signal's code, rank 0 included


@needs_mpi
@pytest.mark.parametrize("signal_name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_to_the_job_stops_every_rank(tmp_path, signal_name, code):
    home = tmp_path / "home"
    command = (
        [MPIEXEC, "-n", "2", sys.executable, "-m", "littlebaby.cli"]
        + train_args("max_steps=100000")
        + ["--home", str(home)]
    )
    job = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        preexec_fn=_ends_with_pytest,
    )
    try:
        reports = home / "outputs"
        deadline = time.monotonic() + TIMEOUT
        # wait for a step record in the report: every rank is then past the collectives of the start,
        # in the training loop with its signal handlers installed (the report itself is written earlier)
        while job.poll() is None and time.monotonic() < deadline and not steps_recorded(reports):
            time.sleep(0.1)
        job.send_signal(getattr(signal, signal_name))  # mpiexec forwards it to every rank
        out, err = job.communicate(timeout=TIMEOUT)
    finally:
        job.kill()
    report, _ = run_of(home)
    assert report["status"] == "interrupted", err
    assert out.count("interrupted at step") == 1 and f"({signal_name})" in out and job.returncode == code


@needs_mpi
def test_bad_input_is_one_line_once_and_exit_2_on_every_rank(tmp_path):
    done = littlebaby(tmp_path / "home", "train", "--data", str(tmp_path / "missing.txt"), processes=2)
    assert done.returncode == 2
    assert done.stderr.count("littlebaby: error:") == 1 and "missing.txt" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.json"))


@needs_mpi
@pytest.mark.parametrize("failing", [0, 1])
def test_bad_input_on_one_rank_only_is_agreed_before_any_collective(tmp_path, failing):
    job = script(
        tmp_path,
        f"""
        if rank == {failing}:  # as when a data file is missing on one node only
            sys.argv[sys.argv.index("--data") + 1] = "/nowhere/on/rank{failing}.txt"
    """,
    )
    data = tmp_path / "data.txt"
    data.write_text("some text to train on, long enough for a window or two. " * 20)
    done = littlebaby(tmp_path / "home", "train", "--config", "tiny", "--data", str(data), processes=2, script=job)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("littlebaby: error:") == 1 and f"rank{failing}.txt" in done.stderr
    assert "Abort" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    home = tmp_path / "home"  # one process leaves nothing; N must not either (no ghost run, no lock)
    assert not home.exists() or not [p for p in home.rglob("*") if p.is_file()], list(home.rglob("*"))


@needs_mpi
@pytest.mark.parametrize("difference", ["shuffled", "shorter", "vocabulary", "config"])
def test_ranks_that_would_train_different_runs_are_refused_naming_the_rank(tmp_path, difference):
    text = "".join(f"line {i}: some text to train on, long enough for a window or two.\n" for i in range(60))
    other = {
        "shuffled": "".join(sorted(text)),  # the same size, the same characters, another order
        "shorter": text[: len(text) // 2],
        "vocabulary": text + "QZXJ",
        "config": text,
    }[difference]
    (tmp_path / "rank0.txt").write_text(text)
    (tmp_path / "rank1.txt").write_text(other)
    change = 'sys.argv += ["--set", "lr=0.002"]' if difference == "config" else ""
    job = script(
        tmp_path,
        f"""
        sys.argv[sys.argv.index("--data") + 1] = "{tmp_path}/rank%d.txt" % rank
        if rank == 1:
            {change or "pass"}
    """,
    )
    done = littlebaby(tmp_path / "home", *train_args(), "--data", "rank0.txt", processes=2, script=job)
    assert done.returncode == 2, done.stdout + done.stderr
    said = {"shuffled": "training data", "shorter": "training data", "vocabulary": "tokenizer", "config": "config"}
    assert done.stderr.count("littlebaby: error:") == 1 and f"rank 1 of 2 has other {said[difference]}" in done.stderr
    assert "Traceback" not in done.stderr and "Abort" not in done.stderr, done.stderr
    home = tmp_path / "home"
    assert not home.exists() or not [p for p in home.rglob("*") if p.is_file()], list(home.rglob("*"))


@needs_mpi
def test_one_process_commands_run_once_under_mpiexec(tmp_path, tiny_run):
    home, name = tiny_run
    done = littlebaby(home, "inspect", name, processes=2)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"run {name}") == 1
    assert done.stderr.count("inspect runs on one process") == 1
    copy = shutil.copytree(home, tmp_path / "home")
    before = set((copy / "outputs").iterdir())
    done = littlebaby(copy, "generate", name, "--max-tokens", "5", "--seed", "1", processes=2)
    assert done.returncode == 0 and done.stderr.count("generate runs on one process") == 1, done.stderr
    assert len(set((copy / "outputs").iterdir()) - before) == 1  # one completion, not one per rank


@needs_mpi
def test_finetune_on_two_processes_is_the_same_as_on_one(tmp_path, tiny_run, greek_file):
    home, name = tiny_run
    runs = {}
    for processes in (1, 2):
        copy = shutil.copytree(home, tmp_path / f"home{processes}")
        done = littlebaby(
            copy,
            "finetune",
            name,
            "--data",
            str(greek_file),
            "--quiet",
            "--set",
            "max_steps=8",
            "--set",
            "dropout=0.1",
            processes=processes,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads((copy / "outputs" / f"report_{name}_finetuned.json").read_text())
        runs[processes] = (
            [s["loss"] for s in report["steps"]],
            load_file(str(copy / "models" / f"model_{name}_finetuned.safetensors")),
        )
        assert not (copy / "outputs" / f"report_{name}_finetuned2.json").exists()  # one run, not one per rank
    assert_same_run(runs[1], runs[2])


@needs_mpi
def test_an_exception_in_a_python_script_under_mpiexec_ends_the_job(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(
        textwrap.dedent("""
        import sys
        from littlebaby import api
        from littlebaby.training import distributed
        from littlebaby.training import trainer as training
        rank = distributed.launched()[1]
        original = training.Trainer.train_step
        def train_step(self):
            if rank == 1 and self.step == 2:
                raise RuntimeError("a bug on rank 1")
            return original(self)
        training.Trainer.train_step = train_step
        api.train("tiny", overrides={"max_steps": 100000}, home=sys.argv[1])
    """)
    )
    done = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, str(job), str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        preexec_fn=_ends_with_pytest,
    )
    assert done.returncode != 0 and "rank 1 of 2 failed; ending the job" in done.stderr


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("n", [0, 1, 4, 7, 32])
def test_ranks_rows_cover_the_batch_once_in_near_equal_shares(size, n):
    shares = [Rank(rank, size).rows(n) for rank in range(size)]
    assert [i for share in shares for i in range(n)[share]] == list(range(n))
    counts = [share.stop - share.start for share in shares]
    assert max(counts) - min(counts) <= 1


@needs_mpi
def test_parameters_that_drift_apart_end_the_job(tmp_path):
    job = script(
        tmp_path,
        """
        def train_step(self):
            if rank == 1 and self.step == 2:
                self.model.parameters.data[0] += 1e-3  # as a bug that updated one replica differently would
            return original(self)
        training.Trainer.train_step = train_step
    """,
    )
    done = littlebaby(tmp_path / "home", *train_args("max_steps=100000"), processes=2, script=job, timeout=60)
    assert done.returncode != 0 and "parameters differ at step 5" in done.stderr


@needs_mpi
def test_a_launcher_of_another_mpi_is_refused_instead_of_training_n_runs(tmp_path):
    """Open MPI's mpirun starting processes whose mpi4py uses MPICH: each would see a world of one."""
    for rank, says in ((0, 1), (1, 0)):
        env = clean_env() | {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": str(rank)}
        done = subprocess.run(
            [sys.executable, "-m", "littlebaby.cli", "train", "--config", "tiny", "--home", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=env,
        )
        assert done.returncode == 2 and done.stderr.count("MPI sees only this one") == says, done.stderr
    assert not any(tmp_path.rglob("*.json"))


@needs_mpi
def test_the_scaling_benchmark_runs(tmp_path):
    """Smoke test of benchmarks/scaling.py on the tiny config: it prints both tables."""
    script_path = Path(__file__).resolve().parents[2] / "benchmarks" / "scaling.py"
    done = subprocess.run(
        [sys.executable, str(script_path), "--configs", "tiny", "--steps", "4"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "| tiny | 5,665 | 2 x 1 |" in done.stdout and "2 nodes 10 Gbit/s" in done.stdout
    assert "| tiny | 5,665 | 2 x 1 sharded |" in done.stdout and "| modelled ms |" in done.stdout
    assert "| tiny | 5,665 | 2 x 1 no overlap |" in done.stdout  # one all-reduce after the backward pass
    assert "| tiny | 5,665 | 4 | " in done.stdout and "(60 idle)" in done.stdout  # 64 nodes, 4 rows: 60 idle


@needs_mpi
def test_the_scaling_benchmark_compares_the_overlap(tmp_path):
    """benchmarks/scaling.py --overlap: 2 x 1 with one all-reduce after the backward pass, and with buckets."""
    script_path = Path(__file__).resolve().parents[2] / "benchmarks" / "scaling.py"
    command = [sys.executable, str(script_path), "--overlap", "--configs", "tiny", "--steps", "4", "--repeats", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=clean_env())
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("| tiny | 5,665 | one machine")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert all(float(cell) >= 0 for cell in cells[3:7]) and cells[7].endswith("%")
    assert "load [" in done.stdout


@needs_mpi
def test_one_progress_bar(tmp_path):
    args = [a for a in train_args("max_steps=6") if a != "--quiet"]
    done = littlebaby(tmp_path / "home", *args, processes=2)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(" 0/6 [") == 1, done.stderr  # each bar starts at 0/6 once: one bar


@needs_mpi
@pytest.mark.parametrize("other", ["runs", "sleep"])
def test_a_job_whose_other_rank_never_trains_ends_instead_of_hanging(tmp_path, other):
    # MPMD: rank 0 trains, rank 1 is another command (which leaves at once) or another program; MPI's start
    # waits for every rank, so without the watchdog rank 0 would wait in MPI_Init for ever
    home = tmp_path / "home"
    trainer = [sys.executable, "-m", "littlebaby.cli", *train_args(), "--home", str(home)]
    second = (
        [sys.executable, "-m", "littlebaby.cli", "runs", "--home", str(home)]
        if other == "runs"
        else [sys.executable, "-c", "import time; time.sleep(100)"]
    )
    started = time.monotonic()
    done = subprocess.run(
        [MPIEXEC, "-n", "1", *trainer, ":", "-n", "1", *second],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**clean_env(), "LITTLEBABY_JOIN_SECONDS": "4"},
        preexec_fn=_ends_with_pytest,
    )
    assert done.returncode != 0 and time.monotonic() - started < 60, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("littlebaby: error:")]
    assert len(said) == 1 and "did not all start training within 4 s" in said[0], done.stderr
    assert not home.exists() or not any((home / "configs").glob("*")), "no run files from a job that never began"


def test_the_join_time_is_a_positive_number():
    assert joining.join_seconds({}) == joining.JOIN_SECONDS
    assert joining.join_seconds({"LITTLEBABY_JOIN_SECONDS": "2.5"}) == 2.5
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(joining.UserError, match="LITTLEBABY_JOIN_SECONDS"):
            joining.join_seconds({"LITTLEBABY_JOIN_SECONDS": bad})
