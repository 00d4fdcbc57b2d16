"""muon through the optimizer suite, and its step against a plain float64 reference written here."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from littlebaby.config import block_options
from littlebaby.testing import optimizer_suite, tiny_model

muon = pytest.importorskip("littlebaby_optimizer_muon", reason="littlebaby-optimizer-muon is not installed")

TestMuon = optimizer_suite("muon", plugin=muon)
TestMuonFewerIterations = optimizer_suite("muon", plugin=muon, options={"ns_steps": 2, "muon_momentum": 0.9})
TestMuonMomentumWarmup = optimizer_suite("muon", plugin=muon, options={"muon_momentum_warmup": 3})
TestAdamW = optimizer_suite("adamw")


def newton_schulz(u, steps):
    """The iteration as written: X <- a X + b (X X^T) X + c (X X^T)^2 X on the wide orientation."""
    x = u / (np.sqrt(np.sum(u * u)) + 1e-7)  # the source divides by the norm plus 1e-7
    flip = x.shape[0] > x.shape[1]
    if flip:
        x = x.T
    for _ in range(steps):
        a = x @ x.T
        x = 3.4445 * x - 4.7750 * (a @ x) + 2.0315 * (a @ a @ x)
    return x.T if flip else x


def test_the_iteration_pushes_singular_values_towards_one():
    u = np.random.default_rng(0).standard_normal((24, 8)) * np.geomspace(0.1, 10, 8)  # singular values 100x apart
    out = muon.orthogonalize(u, 5)  # the source's five
    np.testing.assert_allclose(out, newton_schulz(u, 5), rtol=1e-12, atol=1e-12)
    s = np.linalg.svd(out, compute_uv=False)
    assert s.min() > 0.5 and s.max() < 1.3, s  # from 100x apart to within a factor of about 2
    left, _, right = np.linalg.svd(u, full_matrices=False)
    inside = left.T @ out @ right.T  # the same singular vectors as u: only its singular values changed
    np.testing.assert_allclose(inside - np.diag(np.diag(inside)), 0.0, atol=1e-9)


def test_one_step_is_the_reference():
    model = tiny_model(muon_lr_registry(), c_optimizer="muon", muon_momentum_warmup=0, ns_steps=5, seed=0)
    config, parameters = model.config, model.parameters
    cls = config.chosen("optimizer")
    optimizer = cls.build(parameters, config, block_options(config, cls), 1)
    grad = np.random.default_rng(3).standard_normal(parameters.size)
    before = {name: view.copy() for name, view in parameters.named().items()}
    grads = parameters.named(grad)
    optimizer.step(grad, config.lr * 0.5)  # half way down a schedule: muon's rate is halved too
    rate, lr = 0.02 * 0.5, config.lr * 0.5
    for name, after in parameters.named().items():
        if name.startswith("blocks.") and after.ndim == 2:
            g = grads[name]
            u = g + 0.95 * g  # the first step: momentum b = g, Nesterov's u = g + mu b
            n_in, n_out = after.shape
            expected = before[name] - rate * math.sqrt(max(1.0, n_out / n_in)) * newton_schulz(u, 5)  # ns_steps=5 above
            expected -= lr * config.weight_decay * before[name]
            np.testing.assert_allclose(after, expected, rtol=1e-10, atol=1e-12, err_msg=name)
        else:  # AdamW's first step: m_hat = g, v_hat = g^2, so the move is lr * g / (|g| + eps), plus decay
            g = grads[name]
            move = lr * g / (np.abs(g) + 1e-8)
            decays = parameters.offsets[name] < parameters.decay_size
            expected = before[name] - move - (lr * config.weight_decay * before[name] if decays else 0.0)
            np.testing.assert_allclose(after, expected, rtol=1e-9, atol=1e-12, err_msg=name)


def muon_lr_registry():
    from littlebaby.testing import registry_with

    return registry_with(muon)


def littlebaby(home, *args):
    done = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done


def test_a_muon_run_resumes_keeps_its_optimizer_and_finetunes_with_another(tmp_path):
    tiny = ["--config", "tiny", "--quiet", "--set", "c_optimizer=muon", "--set", "lr=0.01", "--set", "min_lr=0.01"]
    straight = littlebaby(tmp_path / "a", "train", *tiny, "--set", "max_steps=12")
    half = littlebaby(tmp_path / "b", "train", *tiny, "--set", "max_steps=6")
    rest = littlebaby(tmp_path / "b", "train", "--resume", "last", "--quiet", "--set", "max_steps=12")
    for done in (straight, half, rest):
        assert done.returncode == 0, done.stderr
    a, b = (load_file(str(next((tmp_path / h / "models").glob("*.safetensors")))) for h in ("a", "b"))
    for name, value in a.items():
        np.testing.assert_array_equal(b[name], value, err_msg=name)  # one process: bit for bit
    switched = littlebaby(tmp_path / "b", "train", "--resume", "last", "--set", "c_optimizer=adamw")
    assert switched.returncode == 2 and switched.stderr.count("\n") == 1, switched.stderr
    assert "finetune it with --set c_optimizer=adamw" in switched.stderr
    data = tmp_path / "more.txt"
    data.write_text("To be, or not to be, that is the question.\n" * 40)
    tuned = littlebaby(tmp_path / "b", "finetune", "last", "--data", str(data), "--quiet", "--set", "c_optimizer=adamw")
    assert tuned.returncode == 0, tuned.stderr
    config = json.loads(next((tmp_path / "b" / "configs").glob("*_finetuned.json")).read_text())
    assert config["c_optimizer"] == "adamw" and "muon_lr" not in config


def test_momentum_warms_up_from_085_in_a_straight_line():
    model = tiny_model(muon_lr_registry(), c_optimizer="muon", muon_momentum_warmup=4)
    cls = model.config.chosen("optimizer")
    optimizer = cls.build(model.parameters, model.config, block_options(model.config, cls), 1)
    assert [optimizer.momentum_at(t) for t in range(1, 6)] == pytest.approx([0.875, 0.9, 0.925, 0.95, 0.95])
    grad = np.random.default_rng(4).standard_normal(model.parameters.size)
    name = next(n for n, v in model.parameters.named().items() if n.startswith("blocks.") and v.ndim == 2)
    where = model.parameters.offsets[name]
    optimizer.step(grad, model.config.lr)  # the first step's buffer is g, whatever the momentum
    optimizer.step(grad, model.config.lr)  # the second: 0.9 g + g
    np.testing.assert_allclose(optimizer.momentum[where : where + 5], 1.9 * grad[where : where + 5], rtol=1e-12)
