"""`littlebaby new-plugin`: every kind's folder holds a module that passes the kit as written."""

import importlib.util
import subprocess
import sys

import pytest

from littlebaby.testing import block_suite, tokenizer_suite


def new_plugin(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "new-plugin", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def module_of(folder, kind, name):
    path = folder / f"littlebaby_{kind}_{name}.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["sequence", "attention", "network", "position", "tokenizer"])
def test_a_new_plugin_passes_the_kit_and_declares_its_entry_point(tmp_path, kind):
    done = new_plugin(kind, "fresh", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    folder = tmp_path / f"littlebaby-{kind}-fresh"
    project = (folder / "pyproject.toml").read_text()
    assert f'[project.entry-points.littlebaby]\nfresh = "littlebaby_{kind}_fresh"' in project
    assert f'"{kind}", "fresh"' in (folder / "test_fresh.py").read_text() or kind == "tokenizer"
    module = module_of(folder, kind, "fresh")
    if kind == "tokenizer":
        suite = tokenizer_suite("fresh", plugin=module)()
        suite.test_roundtrip_on_varied_text()
        suite.test_save_and_load_encode_identically()
    else:
        suite = block_suite(kind, "fresh", plugin=module)()
        suite.test_gradients(dropout=0.2)
        suite.test_model_cache(partner={})
        suite.test_roundtrip()


@pytest.mark.parametrize(
    "args,said",
    [(["attention", "Bad-Name"], "not a lowercase identifier"), (["attention", "x", "--out", "taken"], "exists")],
)
def test_a_name_or_folder_it_cannot_use_is_one_line(tmp_path, args, said):
    (tmp_path / "taken").mkdir()
    done = new_plugin(*args, cwd=tmp_path)
    assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
