"""A run's JSON files damaged in any way: loading, listing, plotting and resuming them give
a UserError (one line) or work, never a traceback."""

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from littlebaby import api
from littlebaby.errors import UserError
from littlebaby.store.report import Report

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def json_values():
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=4)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=6,
    )


def damaged(original: dict, keys: list[str]):
    """The original JSON object with some of its keys given any JSON value, or any JSON value at all."""
    replace = st.dictionaries(st.sampled_from(keys), json_values(), min_size=1, max_size=3).map(lambda d: original | d)
    return replace | json_values()


def one_line_or_nothing(call):
    try:
        return call()
    except UserError as error:
        assert "\n" not in str(error)
        return None


@pytest.fixture(scope="module")
def run_files(tiny_run):
    home, name = tiny_run
    read = lambda path: json.loads(path.read_text())  # noqa: E731
    return (
        home,
        name,
        read(home / "tokenizers" / f"tokenizer_{name}.json"),
        read(home / "outputs" / f"report_{name}.json"),
    )


def copy_home(run_files, tmp_path_factory):
    home, name, _, _ = run_files
    copy = tmp_path_factory.mktemp("home")
    shutil.copytree(home, copy, dirs_exist_ok=True)
    return copy, name


@SETTINGS
@given(data=st.data())
def test_a_damaged_tokenizer_file(run_files, tmp_path_factory, data):
    home, name = copy_home(run_files, tmp_path_factory)
    tokenizer = data.draw(damaged(run_files[2], ["vocab", "vocab_size", "tokenizer"]))
    (home / "tokenizers" / f"tokenizer_{name}.json").write_text(json.dumps(tokenizer))
    one_line_or_nothing(lambda: api.generate(name, max_tokens=2, home=home, write=False))


@SETTINGS
@given(data=st.data())
def test_a_damaged_report(run_files, tmp_path_factory, data):
    home, name = copy_home(run_files, tmp_path_factory)
    keys = [
        "data",
        "steps",
        "val",
        "config",
        "status",
        "created",
        "parameters",
        "best_val_loss",
        "train_seconds",
        "steps_done",
    ]
    report = data.draw(damaged(run_files[3], keys))
    (home / "outputs" / f"report_{name}.json").write_text(json.dumps(report))
    rows = api.runs(home)  # listing never fails on one damaged report
    assert [row["guid"] for row in rows] == [name]
    one_line_or_nothing(lambda: Report.read(home / "outputs" / f"report_{name}.json").trained_on("report"))
    pytest.importorskip("matplotlib", reason="matplotlib, the plot extra, is not installed")
    figure = one_line_or_nothing(lambda: api.plot(name, home=home)[0])
    if figure is not None:
        import matplotlib.pyplot as plt

        plt.close(figure)


def test_a_full_disk_inside_a_checkpoint_part_names_the_checkpoint_left(tmp_path, monkeypatch):
    import errno
    import os

    from littlebaby.store import checkpoints
    from littlebaby.system import atomic

    original, parts = atomic._write_atomically, []

    def full_disk_at_the_second_optimizer(path, data):
        if path.name == "optimizer.safetensors":
            parts.append(path)
            if len(parts) == 2:  # the system's own error, raised where a real full disk shows it
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(path, data)

    monkeypatch.setattr(atomic, "_write_atomically", full_disk_at_the_second_optimizer)
    with pytest.raises(UserError) as error:
        api.train("tiny", overrides={"max_steps": 6, "checkpoint_interval": 2}, home=tmp_path)
    text = str(error.value)
    assert "\n" not in text and "optimizer.safetensors (No space left on device)" in text and "step 2 is intact" in text
    [folder] = (tmp_path / "checkpoints").iterdir()
    assert checkpoints.newest(folder).step == 2
