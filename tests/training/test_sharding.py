"""The sharded optimizer (`shard_optimizer`): each process updates its part of the parameters, and the run is
the unsharded one-process run to float rounding, checkpoints included (resumable on any number of processes).

In-process tests split the buffer over simulated ranks; the MPI tests run the CLI under the mpich wheel's
mpiexec, as test_distributed.py does (same tolerances: the tiny config trains in float64, so only the order
of float additions differs between 1 and N processes).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from littlebaby.optim.adamw import AdamW
from littlebaby.optim.optimizer import ParameterPart
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.training import distributed, sharding
from littlebaby.training.stats import GroupStats

TIMEOUT = 120  # seconds for any one subprocess: a hang fails, never stalls
MPIEXEC = str(Path(sys.executable).parent / "mpiexec") if (Path(sys.executable).parent / "mpiexec").exists() else None
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec: install the mpi extra (uv sync --all-extras)")
LAUNCHER_NAMES = [name for pair in distributed.LAUNCHER_VARIABLES for name in pair]


class Rank(distributed.Solo):
    """Rank `rank` of a simulated world of `size`: its part of a buffer, no collectives."""

    def __init__(self, rank, size):
        super().__init__()
        self.rank, self.size, self.is_root = rank, size, rank == 0

    rows = distributed.MPIWorld.rows


def tiny(**keys):
    config = dict(n_ctx=8, n_emb=16, head_size=16, n_heads=2, n_layers=2, dtype="float64", weight_decay=0.1)
    return build_model(resolve.config(config | keys), vocab_size=11)


# -- in one process -----------------------------------------------------------------------
@pytest.mark.parametrize("size", [2, 3, 7])
def test_adamw_on_parts_moves_every_element_as_adamw_on_the_whole(size):
    whole, parts = tiny(), tiny()
    rng = np.random.default_rng(0)
    optimizer = AdamW(whole.parameters, weight_decay=0.1)
    cut = [AdamW(ParameterPart(parts.parameters, Rank(r, size).rows(parts.parameters.size))) for r in range(size)]
    for piece in cut:
        piece.weight_decay = 0.1
    for _ in range(3):
        grad = rng.standard_normal(whole.parameters.size)
        optimizer.step(grad, 0.01)
        for piece, rank in zip(cut, range(size)):
            piece.step(grad[Rank(rank, size).rows(grad.size)], 0.01)
    # the same arithmetic element by element: the weight decay's boundary falls inside one part
    np.testing.assert_array_equal(parts.parameters.data, whole.parameters.data)
    assert sum(piece.m.size for piece in cut) == optimizer.m.size
    assert max(piece.m.size for piece in cut) <= -(-optimizer.m.size // size)  # each holds its part's state only


def test_group_norms_of_the_parts_sum_to_the_wholes():
    model = tiny()
    flat = np.random.default_rng(1).standard_normal(model.parameters.size)
    whole = GroupStats(model.parameters).squared_norms(flat)
    parts = [Rank(r, 3).rows(flat.size) for r in range(3)]
    summed = sum(GroupStats(model.parameters, part).squared_norms(flat[part]) for part in parts)
    np.testing.assert_allclose(summed, whole, rtol=1e-12)


def test_a_sharded_state_loads_its_part_and_describes_the_whole():
    model = tiny(shard_optimizer=True)
    world = Rank(1, 3)
    optimizer = sharding.build(model.config, model.parameters, None, 1, world)
    size, part = model.parameters.size, world.rows(model.parameters.size)
    assert {k: v.shape for k, v in optimizer.state().items()} == {"m": (size,), "v": (size,), "t": (1,)}
    state = {"m": np.arange(size, dtype=float), "v": np.ones(size), "t": np.array([5])}
    optimizer.load_state(state)
    np.testing.assert_array_equal(optimizer.inner.m, state["m"][part])
    assert optimizer.inner.t == 5 and optimizer.loaded is None  # only rank 0 keeps the whole to hand out


# -- under mpiexec ------------------------------------------------------------------------
def littlebaby(home, *args, processes=1):
    command = [sys.executable, "-m", "littlebaby.cli", *args, "--home", str(home)]
    if processes > 1:
        command = [MPIEXEC, "-n", str(processes), *command]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_NAMES}
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def train_args(*sets):
    keys = ["max_steps=20", "eval_interval=5", "eval_windows=12", "warmup_steps=2", "dropout=0.1", "threads=1"]
    keys = dict(key.split("=", 1) for key in [*keys, *sets])
    return ["train", "--config", "tiny", "--quiet"] + [a for k, v in keys.items() for a in ("--set", f"{k}={v}")]


def run_of(home):
    """(report, parameters, the newest checkpoint's optimizer state) of the one run in home."""
    (report,) = (Path(home) / "outputs").glob("report_*.json")
    (model,) = (Path(home) / "models").glob("model_*.safetensors")
    optimizer = sorted((Path(home) / "checkpoints").glob("*/step_*/optimizer.safetensors"))[-1]
    return json.loads(report.read_text()), load_file(str(model)), load_file(str(optimizer))


def assert_same_run(home_a, home_b):
    (report_a, params_a, state_a), (report_b, params_b, state_b) = run_of(home_a), run_of(home_b)
    steps_a, steps_b = report_a["steps"], report_b["steps"]
    np.testing.assert_allclose([s["loss"] for s in steps_a], [s["loss"] for s in steps_b], rtol=0, atol=1e-5)
    for a, b in zip(steps_a, steps_b):  # the report's statistics come out of the parts summed
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], abs=1e-5)
        for group, stats in a["groups"].items():
            assert b["groups"][group] == pytest.approx(stats, rel=1e-3, abs=1e-5), group
    for name, value in params_a.items():
        np.testing.assert_allclose(params_b[name], value, rtol=0, atol=1e-5 * np.abs(value).max(), err_msg=name)
    assert state_a.keys() == state_b.keys()  # the whole state, as an unsharded run saves it
    for name, value in state_a.items():
        np.testing.assert_allclose(state_b[name], value, rtol=0, atol=1e-5 * np.abs(value).max(), err_msg=name)
    return report_b


@needs_mpi
@pytest.mark.parametrize("processes", [1, 2, 3])
def test_sharded_runs_on_1_2_3_processes_are_the_unsharded_run_on_one(tmp_path, processes):
    one = littlebaby(tmp_path / "one", *train_args())
    sharded = littlebaby(tmp_path / "sharded", *train_args("shard_optimizer=true"), processes=processes)
    assert one.returncode == 0 and sharded.returncode == 0, one.stderr + sharded.stderr
    report = assert_same_run(tmp_path / "one", tmp_path / "sharded")
    assert report["world"]["processes"] == processes and report["config"]["shard_optimizer"] is True


@needs_mpi
@pytest.mark.parametrize("processes", [2, 3])
def test_sharded_buckets_with_threads_and_micro_batches_are_the_run_on_one(tmp_path, processes):
    """Each bucket of the gradient is reduce-scattered as the backward pass ends it, summed over threads."""
    deeper = ["n_layers=3"]
    one = littlebaby(tmp_path / "one", *train_args(*deeper))
    sets = [*deeper, "shard_optimizer=true", "threads=2", "grad_accum_steps=2"]
    sharded = littlebaby(tmp_path / "sharded", *train_args(*sets), processes=processes)
    assert one.returncode == 0 and sharded.returncode == 0, one.stderr + sharded.stderr
    assert_same_run(tmp_path / "one", tmp_path / "sharded")


@needs_mpi
def test_a_sharded_checkpoint_resumes_on_three_sharded_and_on_one_unsharded(tmp_path):
    constant = ["lr=0.01", "min_lr=0.01"]  # the schedule does not depend on max_steps: 10 + 10 steps are 20
    straight = littlebaby(tmp_path / "straight", *train_args(*constant))
    half = littlebaby(tmp_path / "three", *train_args(*constant, "max_steps=10", "shard_optimizer=true"), processes=2)
    assert straight.returncode == 0 and half.returncode == 0, straight.stderr + half.stderr
    shutil.copytree(tmp_path / "three", tmp_path / "one")
    rest = ["train", "--resume", "last", "--quiet", "--set", "max_steps=20"]
    on_three = littlebaby(tmp_path / "three", *rest, processes=3)
    on_one = littlebaby(tmp_path / "one", *rest, "--set", "shard_optimizer=false")
    assert on_three.returncode == 0 and on_one.returncode == 0, on_three.stderr + on_one.stderr
    assert assert_same_run(tmp_path / "straight", tmp_path / "three")["resumed"] == [10]
    assert assert_same_run(tmp_path / "straight", tmp_path / "one")["config"]["shard_optimizer"] is False


@needs_mpi
def test_an_unsharded_checkpoint_resumes_sharded(tmp_path):
    constant = ["lr=0.01", "min_lr=0.01"]
    straight = littlebaby(tmp_path / "straight", *train_args(*constant))
    half = littlebaby(tmp_path / "split", *train_args(*constant, "max_steps=10"))
    rest = ["train", "--resume", "last", "--quiet", "--set", "max_steps=20", "--set", "shard_optimizer=true"]
    sharded = littlebaby(tmp_path / "split", *rest, processes=2)
    assert straight.returncode == half.returncode == sharded.returncode == 0, sharded.stderr
    assert_same_run(tmp_path / "straight", tmp_path / "split")


def test_an_optimizer_of_whole_tensors_is_refused_in_one_line(tmp_path):
    pytest.importorskip("littlebaby_optimizer_muon", reason="littlebaby-optimizer-muon is not installed")
    done = littlebaby(tmp_path / "home", *train_args("c_optimizer=muon", "shard_optimizer=true"))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "muon" in done.stderr and "--set shard_optimizer=true" in done.stderr
    home = tmp_path / "home"
    assert not home.exists() or not [p for p in home.rglob("*") if p.is_file()]


@needs_mpi
def test_the_optimizer_memory_benchmark_runs():
    """Smoke test of benchmarks/optimizer_memory.py on the tiny config: 2 processes hold half the state."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "optimizer_memory.py"
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_NAMES}
    command = [sys.executable, str(script), "--config", "tiny", "--processes", "1", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2 and float(rows[1][5]) < 0.6  # half the first row's bytes, and a few small arrays
