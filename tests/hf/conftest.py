"""What the Hugging Face tests share: the command line as a user runs it, and a folder broken on purpose."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from littlebaby.nn.generation import generate


def run_cli(*args, home):
    command = [sys.executable, "-m", "littlebaby.cli", *map(str, args), "--home", str(home)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture
def cli():
    """cli(*args, home=...): a littlebaby command in a subprocess."""
    return run_cli


@pytest.fixture
def refused_import(tmp_path):
    """refused_import(folder, change): import-hf of a copy of folder with change made to it (a dict of config.json
    keys to set, or a function of the copy's path) is one line on stderr, exit 2, and nothing in the home."""

    def refused(folder, change):
        copy = tmp_path / "model"
        shutil.copytree(folder, copy)
        if isinstance(change, dict):
            config = json.loads((copy / "config.json").read_text())
            config.update(change)
            (copy / "config.json").write_text(json.dumps(config))
        else:
            change(copy)
        done = run_cli("import-hf", copy, home=tmp_path / "home")
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        home = tmp_path / "home"
        assert not home.exists() or not any(p for p in home.rglob("*") if p.is_file()), "nothing left in the home"
        return done.stderr

    return refused


@pytest.fixture
def same_as_transformers():
    """same_as_transformers(folder, tokenizer, model): the ids of the fixture's text, logits within 1e-4 and the
    greedy tokens (with and without the KV cache) are those transformers gave (folder/expected.*)."""

    def check(folder, tokenizer, model):
        expected = load_file(str(folder / "expected.safetensors"))
        ids = tokenizer.encode(json.loads((folder / "expected.json").read_text())["text"])
        np.testing.assert_array_equal(ids, expected["ids"])
        np.testing.assert_allclose(model.logits(ids), expected["logits"], atol=1e-4, rtol=0)
        prompt = expected["ids"].tolist()
        new = len(expected["greedy"]) - len(prompt)
        for cache in (True, False):
            out = generate(model, prompt, new, temperature=0.0, use_cache=cache, rng=np.random.default_rng(0))
            assert prompt + out == expected["greedy"].tolist()

    return check
