"""A run's checkpoints: whole sets renamed into place, verified against their manifest, the newest two kept."""

import builtins
import hashlib
import json
import os

import numpy as np
import pytest

from littlebaby.optim.adamw import AdamW
from littlebaby.plugins.resolve import build_model
from littlebaby.store import checkpoints
from littlebaby.store import weights as checkpoint


def small():
    model = build_model(dict(n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=1), vocab_size=5)
    return model, AdamW(model.parameters)


def save(folder, step, model, optimizer):
    state = {"step": step, "dropout_rng": None}
    return checkpoints.write(folder, step, model, optimizer, state, {"steps": step, "val": 0})


def test_a_checkpoint_holds_model_optimizer_and_manifest(tmp_path):
    model, optimizer = small()
    optimizer.step(np.ones_like(model.parameters.data), 0.1)
    saved = save(tmp_path, 7, model, optimizer)
    assert saved.path.name == "step_000000007" and sorted(p.name for p in saved.path.iterdir()) == [
        "manifest.json",
        "model.safetensors",
        "optimizer.safetensors",
    ]
    again = checkpoints.newest(tmp_path)
    assert again == saved and again.report == {"steps": 7, "val": 0}
    loaded = checkpoint.load_model(again.model)
    np.testing.assert_array_equal(loaded.parameters.data, model.parameters.data)
    fresh = AdamW(loaded.parameters)
    assert checkpoint.load_optimizer(again.optimizer, fresh)["step"] == 7
    for key, value in optimizer.state().items():
        np.testing.assert_array_equal(fresh.state()[key], value)
    assert [p.name for p in tmp_path.iterdir()] == ["step_000000007"]  # no temporary left


def test_a_checkpoint_is_written_once_and_not_read_back_to_hash_it(tmp_path, monkeypatch):
    model, optimizer = small()
    opened, real_open = [], builtins.open
    monkeypatch.setattr(
        builtins,
        "open",
        lambda file, mode="r", *a, **k: opened.append((str(file), mode)) or real_open(file, mode, *a, **k),
    )
    saved = save(tmp_path, 3, model, optimizer)
    assert not [(f, mode) for f, mode in opened if f.endswith(".safetensors") and "r" in mode]
    monkeypatch.undo()
    # the manifest is as before: the sha256 of each file's bytes, so older checkpoints and this one verify alike
    manifest = json.loads((saved.path / checkpoints.MANIFEST).read_text())
    assert manifest["parts"] == {
        part: hashlib.sha256((saved.path / part).read_bytes()).hexdigest() for part in checkpoints.PARTS
    }
    assert checkpoints.verify(saved.path) == saved


def test_only_the_newest_two_are_kept(tmp_path):
    model, optimizer = small()
    for step in (1, 2, 3, 4):
        save(tmp_path, step, model, optimizer)
    assert [p.name for p in checkpoints.steps(tmp_path)] == ["step_000000004", "step_000000003"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_000000003", "step_000000004"]


@pytest.mark.parametrize(
    "damage",
    [
        "flip a byte of the model",
        "truncate the optimizer",
        "drop the manifest",
        "manifest of another step",
        "remove a part",
    ],
)
def test_a_broken_newest_checkpoint_falls_back_to_the_one_before(tmp_path, damage):
    model, optimizer = small()
    save(tmp_path, 1, model, optimizer)
    newest = save(tmp_path, 2, model, optimizer).path
    if damage == "flip a byte of the model":
        data = bytearray((newest / "model.safetensors").read_bytes())
        data[-3] ^= 0xFF
        (newest / "model.safetensors").write_bytes(bytes(data))
    elif damage == "truncate the optimizer":
        (newest / "optimizer.safetensors").write_bytes((newest / "optimizer.safetensors").read_bytes()[:-10])
    elif damage == "drop the manifest":
        (newest / "manifest.json").unlink()
    elif damage == "manifest of another step":
        manifest = json.loads((newest / "manifest.json").read_text())
        manifest["step"] = manifest["state"]["step"] = 1
        (newest / "manifest.json").write_text(json.dumps(manifest))
    else:
        (newest / "optimizer.safetensors").unlink()
    with pytest.warns(UserWarning, match="step_000000002 is broken"):
        found = checkpoints.newest(tmp_path)
    assert found.step == 1


def test_no_checkpoint_is_none(tmp_path):
    assert checkpoints.newest(tmp_path / "missing") is None
    assert checkpoints.why_broken(tmp_path / "missing") is None


def test_every_checkpoint_broken_is_none_without_warnings_and_the_newest_reason(tmp_path, recwarn):
    model, optimizer = small()
    for step in (1, 2):
        (save(tmp_path, step, model, optimizer).path / "model.safetensors").write_bytes(b"")
    assert checkpoints.newest(tmp_path) is None and not [
        w for w in recwarn if issubclass(w.category, UserWarning)
    ]  # the caller's one-line error says it all
    assert (
        checkpoints.why_broken(tmp_path) == "step_000000002: model.safetensors is not the file its manifest describes"
    )


def test_an_interrupted_write_leaves_the_previous_set_and_no_folder(tmp_path, monkeypatch):
    model, optimizer = small()
    save(tmp_path, 1, model, optimizer)

    def fail(*args):
        raise KeyboardInterrupt  # a second Ctrl-C in the middle of the write

    monkeypatch.setattr(checkpoint, "save_optimizer", fail)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, 2, model, optimizer)
    assert [p.name for p in tmp_path.iterdir()] == ["step_000000001"]
    assert checkpoints.newest(tmp_path).step == 1


def test_a_checkpoint_folder_has_ordinary_permissions(tmp_path):
    model, optimizer = small()
    saved = save(tmp_path, 1, model, optimizer)
    umask = os.umask(0o022)
    os.umask(umask)
    assert saved.path.stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_checkpoint_copied_from_another_run_is_passed_over(tmp_path):
    # same shapes, valid hashes: only the run named in the manifest tells it apart
    model, optimizer = small()
    save(tmp_path / "run_a", 1, model, optimizer)
    other = save(tmp_path / "run_b", 2, model, optimizer).path
    os.rename(other, tmp_path / "run_a" / other.name)
    with pytest.warns(UserWarning, match="saved by run 'run_b', not 'run_a'"):
        assert checkpoints.newest(tmp_path / "run_a").step == 1


def test_a_manifest_without_a_run_name_still_verifies(tmp_path):  # written before manifests named their run
    model, optimizer = small()
    path = save(tmp_path / "run_a", 3, model, optimizer).path
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["run"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert checkpoints.verify(path).step == 3


def test_broken_or_foreign_folders_never_push_the_intact_ones_out(tmp_path):
    import shutil

    model, optimizer = small()
    for step in (15, 20):
        save(tmp_path, step, model, optimizer)
    for step in (40, 45):  # copies of step 20 under later names: their manifests say 20
        shutil.copytree(tmp_path / "step_000000020", tmp_path / f"step_{step:09d}")
    other = tmp_path.parent / "other_run"
    save(other, 28, model, optimizer)  # another run's own checkpoint, copied in
    shutil.copytree(other / "step_000000028", tmp_path / "step_000000028")
    for step in (25, 30):  # the run resumed from 20 goes on
        save(tmp_path, step, model, optimizer)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["step_000000025", "step_000000030", "step_000000040", "step_000000045"]
    assert checkpoints.newest(tmp_path).step == 30  # the broken later ones are passed over, not the good ones lost
