"""Welch's t-test in compare, against table values of Student's t, and through the CLI on runs of two seeds."""

import math
import subprocess
import sys

import numpy as np
import pytest

from littlebaby.look import significance
from littlebaby.look.significance import regularized_beta, t_quantile, two_sided_p, welch


@pytest.mark.parametrize(
    "df, t975",  # t_{0.975, df} from the tables: P(|T| >= t) = 0.05
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423), (1000, 1.9623)],
)
def test_the_t_distribution_matches_its_table(df, t975):
    assert two_sided_p(t975, df) == pytest.approx(0.05, abs=2e-5)
    assert t_quantile(0.975, df) == pytest.approx(t975, abs=2e-4)


def test_the_incomplete_beta_function_is_right_where_it_has_closed_forms():
    for x in (0.01, 0.3, 0.5, 0.77, 0.999):
        assert regularized_beta(x, 1.0, 1.0) == pytest.approx(x, rel=1e-12)  # uniform
        assert regularized_beta(x, 2.0, 1.0) == pytest.approx(x * x, rel=1e-12)
        assert regularized_beta(x, 0.5, 0.5) == pytest.approx(2 / math.pi * math.asin(math.sqrt(x)), rel=1e-10)
    assert two_sided_p(0.0, 5) == 1.0 and two_sided_p(-2.0, 7) == two_sided_p(2.0, 7)


def test_welch_on_a_worked_example():
    # two samples with unequal variances; df by Welch-Satterthwaite, worked by hand
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 7.0, 9.0, 11.0]
    d = welch(a, b)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 5
    assert d.difference == 4.5 and d.t == pytest.approx(4.5 / math.sqrt(va + vb))
    assert d.df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 4))
    assert d.low < 4.5 < d.high and d.p == pytest.approx(two_sided_p(d.t, d.df))
    assert 0.01 < d.p < 0.05  # t = 3.16 on about 5.4 degrees of freedom
    assert welch([1.0], [2.0, 3.0]).p is None  # one run: no spread to judge by
    assert welch([1.0, 1.0], [1.0, 1.0]).p == 1.0 and welch([1.0, 1.0], [2.0, 2.0]).p == 0.0


def test_runs_group_by_config_without_the_seed():
    configs = {"a": {"lr": 1, "seed": 0}, "b": {"lr": 2, "seed": 0}, "c": {"lr": 1, "seed": 1, "threads": 2}}
    assert significance.groups(configs) == [["a", "c"], ["b"]]


def test_runs_scored_on_different_val_windows_are_compared_with_a_warning():
    def result(windows, seed, loss):
        config = {"lr": 1, "seed": seed} if windows is None else {"lr": 1, "seed": seed, "eval_windows": windows}
        return {"config": config, "best_val_loss": loss, "best_val_bpb": None}

    sample = {f"s{seed}": result(None, seed, 1.47 + seed / 100) for seed in range(2)}  # older reports: 256
    whole = {f"w{seed}": result(0, seed, 1.45 + seed / 100) for seed in range(2)}
    labels = {name: name for name in [*sample, *whole]}
    said = significance.lines({**sample, **whole}, labels)
    assert said[-1].startswith("careful: these runs were scored on the whole val split and 256 val windows")
    other = {"x": {"config": {"lr": 2, "seed": 0, "eval_windows": 0}, "best_val_loss": 1.4, "best_val_bpb": None}}
    alike = significance.lines({**whole, **other}, {**labels, "x": "x"})
    assert len(alike) > 2 and not any(line.startswith("careful") for line in alike)


def test_compare_says_whether_two_configs_differ_beyond_noise(tmp_path):
    def train(*sets):
        args = ["train", "--config", "tiny", "--quiet", "--home", str(tmp_path), "--set", "max_steps=40"]
        for key in sets:
            args += ["--set", key]
        done = subprocess.run([sys.executable, "-m", "littlebaby.cli", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()[1].rstrip(":")  # "run <guid>: ..."

    slow = [train("lr=0.001", f"seed={seed}") for seed in (0, 1, 2)]
    fast = [train("lr=0.02", f"seed={seed}") for seed in (0, 1, 2)]
    done = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "compare", *slow, *fast, "--home", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("baseline: ") and "lr=0.001" in lines[0] and "2 more seed(s)" in lines[0]
    loss = next(line for line in lines if "best val loss" in line)
    assert "Welch t" in loss and "beyond noise" in loss and loss.split()[3].startswith("-")  # the faster rate wins
    assert any("bits per byte" in line for line in lines)
    alone = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "compare", slow[0], fast[0], "--home", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert "no spread to judge noise by" in alone.stdout and "several seeds" in alone.stdout
