"""The command line as a user runs it: `python -m littlebaby.cli` in a subprocess, and what a refusal must be."""

import subprocess
import sys
from pathlib import Path

import pytest


def run(*args, cwd, env=None, check=False):
    """`littlebaby args...` in cwd: the finished process; with check, it must have succeeded."""
    done = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
        env=env,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def snapshot(path: Path) -> dict:
    return {p: (p.lstat().st_mtime_ns, p.lstat().st_size) for p in path.rglob("*")}


def refuse(*args, cwd) -> str:
    """Run a command that must fail as a user mistake: exit code 2, one stderr line (returned), no file written
    or changed under cwd."""
    before = snapshot(cwd)
    done = run(*args, cwd=cwd)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("littlebaby: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == "", done.stdout
    assert snapshot(cwd) == before, "a refused command wrote or changed files"
    return done.stderr


@pytest.fixture(scope="session")
def littlebaby():
    """littlebaby(*args, cwd, env=None, check=False): the finished subprocess (text output)."""
    return run


@pytest.fixture(scope="session")
def refused():
    """refused(*args, cwd): the one stderr line of a command that must be refused."""
    return refuse


@pytest.fixture(scope="session")
def tree():
    """tree(path): (mtime, size) of everything under path, to show that nothing was written or changed."""
    return snapshot
