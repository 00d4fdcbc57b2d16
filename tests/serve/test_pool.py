"""The server's runs, in-process: what is computed from a loaded model is computed once per load."""

import os

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed (uv sync --all-extras)")

from littlebaby import api  # noqa: E402
from littlebaby.serve import pool as pool_module  # noqa: E402
from littlebaby.serve.pages import _run  # noqa: E402


def test_a_polled_run_computes_its_parameter_table_once_per_model_file(tmp_path, monkeypatch):
    home, name = tmp_path, api.train("tiny", overrides={"max_steps": 2}, home=tmp_path).name
    made = []
    original = pool_module.render_table
    monkeypatch.setattr(pool_module, "render_table", lambda model: made.append(1) or original(model))
    pool = pool_module.Pool(home)
    first = _run(pool, name)
    for _ in range(3):  # a page polling a training run's curves
        assert _run(pool, name)["parameters"] == first["parameters"]
    assert len(made) == 1 and "total:" in first["parameters"]
    model_file = pool.home.model(name)
    later = model_file.stat().st_mtime_ns + 10**9
    os.utime(model_file, ns=(later, later))  # a newer model: loaded again, its table made again
    _run(pool, name)
    assert len(made) == 2
