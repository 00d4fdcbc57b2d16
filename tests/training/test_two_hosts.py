"""Two hosts on one machine: two network namespaces joined by a veth pair, Hydra launching through an ssh
stand-in (`ip netns exec`), the all-reduce forced over TCP (UCX_TLS=tcp,self; without it MPICH's UCX uses
shared memory between processes of one machine). The two-host run equals the one-process run, and the bytes
the veth carried show that the gradients crossed it. Needs root and `ip`; skips saying why otherwise, and
removes its namespaces whatever happens (docs/distributed.md gives the same recipe by hand)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from littlebaby.training import distributed

TIMEOUT = 50  # seconds for one run
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import namespaces  # noqa: E402  (the two hosts, shared with benchmarks/scaling.py --two-hosts)

MPIEXEC = namespaces.mpiexec()


@pytest.fixture
def hosts(tmp_path):
    """[(namespace, address, veth end)] of two hosts joined by a veth pair, and the ssh stand-in's path."""
    if not os.path.exists(MPIEXEC):
        pytest.skip("no mpiexec beside this Python: install the mpi extra (uv sync --all-extras)")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and the ip command (iproute2)")
    made = namespaces.hosts(tmp_path, "lb")
    try:
        pair = made.__enter__()
    except subprocess.CalledProcessError as error:
        pytest.skip(f"cannot make network namespaces here: {error.stderr.strip()}")
    try:
        yield pair
    finally:
        made.__exit__(None, None, None)


def _ends_with_pytest():
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no job outlives pytest


def _train(home, prefix=()):
    keys = ["max_steps=12", "eval_interval=4", "eval_windows=12", "warmup_steps=2", "threads=1"]
    command = [*prefix, sys.executable, "-m", "littlebaby.cli", "train", "--config", "tiny", "--quiet"]
    command += [a for key in keys for a in ("--set", key)] + ["--home", str(home)]
    names = {name for pair in distributed.LAUNCHER_VARIABLES for name in pair}
    env = {k: v for k, v in os.environ.items() if k not in names}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, env=env, preexec_fn=_ends_with_pytest
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(next((home / "outputs").glob("report_*.json")).read_text())
    return report, load_file(str(next((home / "models").glob("model_*.safetensors"))))


def _sent(name, link) -> int:
    return int(namespaces.ip("netns", "exec", name, "cat", f"/sys/class/net/{link}/statistics/tx_bytes").stdout)


def test_two_hosts_over_tcp_train_the_same_run_as_one_process(tmp_path, hosts):
    ((a, _, a_link), _), standin = hosts
    one, params_one = _train(tmp_path / "one")
    before = _sent(a, a_link)
    two, params_two = _train(tmp_path / "two", namespaces.launch(hosts[0], standin))
    assert two["world"]["processes"] == 2
    assert [s["loss"] for s in two["steps"]] == pytest.approx([s["loss"] for s in one["steps"]], abs=1e-5)
    assert [v["loss"] for v in two["val"]] == pytest.approx([v["loss"] for v in one["val"]], abs=1e-5)
    for key, value in params_one.items():
        np.testing.assert_allclose(params_two[key], value, rtol=0, atol=1e-5 * np.abs(value).max())
    gradient_bytes = sum(v.nbytes for v in params_one.values())
    assert _sent(a, a_link) - before > len(two["steps"]) * gradient_bytes / 2  # each step's gradient crossed the veth
