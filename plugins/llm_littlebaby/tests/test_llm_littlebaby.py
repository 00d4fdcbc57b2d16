"""The llm plugin through the real `llm` command, as a user runs it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("llm", reason="llm is a dev dependency (uv sync)")
pytest.importorskip("llm_littlebaby", reason="llm-littlebaby is not installed (uv sync --all-packages)")


def run(*args, home, user):
    env = {**os.environ, "LITTLEBABY_HOME": str(home), "LLM_USER_PATH": str(user)}
    command = [str(Path(sys.executable).parent / "llm"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    command = [sys.executable, "-m", "littlebaby.cli", "train", "--config", "tiny", "--quiet", "--home", str(home)]
    done = subprocess.run(command + ["--set", "max_steps=30", "--name", "tiny one"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return home


def test_llm_lists_the_runs(home, tmp_path):
    listed = run("models", home=home, user=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "littlebaby/last" in listed.stdout and "littlebaby/tiny one" in listed.stdout


def test_llm_samples_what_generate_prints(home, tmp_path):
    said = run("-m", "littlebaby/last", "ROMEO:", "-o", "seed", "3", "-o", "max_tokens", "24", home=home, user=tmp_path)
    assert said.returncode == 0, said.stderr
    command = [
        sys.executable,
        "-m",
        "littlebaby.cli",
        "generate",
        "last",
        "--prompt",
        "ROMEO:",
        "--seed",
        "3",
        "--max-tokens",
        "24",
        "--temperature",
        "0.8",
        "--no-save",
        "--home",
        str(home),
    ]
    generated = subprocess.run(command, capture_output=True, text=True)
    assert said.stdout.rstrip("\n") == generated.stdout[len("ROMEO:") :].rstrip("\n")
    by_name = run(
        "-m", "littlebaby/tiny one", "ROMEO:", "-o", "seed", "3", "-o", "max_tokens", "24", home=home, user=tmp_path
    )
    assert by_name.stdout == said.stdout


def test_a_bad_option_is_llm_s_own_one_line_error(home, tmp_path):
    said = run("-m", "littlebaby/last", "x", "-o", "max_tokens", "-3", home=home, user=tmp_path)
    assert said.returncode != 0 and "max_tokens" in said.stderr and "Traceback" not in said.stderr
