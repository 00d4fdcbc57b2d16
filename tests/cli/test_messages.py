"""Messages and statuses that say what happened: each case as the user meets it."""

import builtins

import pytest

from littlebaby import api
from littlebaby.errors import UserError
from littlebaby.runs import prepare as preparing
from littlebaby.text import corpus
from littlebaby.training.trainer import Diverged


@pytest.mark.parametrize(
    "content,said", [(b"", "is empty"), (b"  \n\t\n", "holds only whitespace"), (b"\r\n" * 50, "holds only whitespace")]
)
def test_an_empty_file_and_one_of_whitespace_are_told_apart(tmp_path, content, said, refused):
    (tmp_path / "data.txt").write_bytes(content)
    assert said in refused("train", "--config", "tiny", "--data", "data.txt", cwd=tmp_path)


def test_a_path_of_kilobytes_is_cut_short_in_the_one_line(tmp_path, refused):
    line = refused("train", "--config", "tiny", "--data", "x" * 5000, cwd=tmp_path)
    assert len(line) < 400 and "..." in line


def test_a_repeated_set_key_is_refused_as_a_config_file_refuses_one(tmp_path, refused):
    line = refused("train", "--config", "tiny", "--set", "lr=0.1", "--set", "lr=0.2", cwd=tmp_path)
    assert "--set lr is given twice" in line


def test_a_min_lr_above_lr_is_refused_when_given_and_capped_when_the_default(tmp_path, littlebaby, refused):
    line = refused("train", "--config", "tiny", "--set", "lr=0.001", "--set", "min_lr=0.01", cwd=tmp_path)
    assert "the schedule would rise" in line and "--set min_lr=0.001 or less" in line
    (tmp_path / "mine.json").write_text('{"n_layers": 1, "n_ctx": 8, "n_emb": 8, "head_size": 8, "n_heads": 2}')
    done = littlebaby("train", "--config", "mine.json", "--set", "lr=1e-4", "--set", "max_steps=1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_runs_markdown_in_an_empty_home_says_so_as_runs_does(tmp_path, littlebaby):
    done = littlebaby("runs", "--markdown", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "" and "no runs in" in done.stderr


def test_a_nul_byte_past_the_sniffed_head_is_refused_by_prepare_as_by_train(tmp_path, littlebaby, refused):
    (tmp_path / "data.txt").write_bytes(b"to be or not to be\n" * 5000 + b"\x00tail\n")
    done = littlebaby("prepare", "--data", "data.txt", "--out", "o", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "looks binary" in done.stderr
    assert "looks binary" in refused("train", "--config", "tiny", "--data", "data.txt", cwd=tmp_path)
    assert not (tmp_path / "o").exists()


def test_a_source_that_changes_while_prepare_reads_it_is_refused(tmp_path, monkeypatch):
    (tmp_path / "data.txt").write_text("to be or not to be\n" * 500)
    listed = preparing.list_sources
    monkeypatch.setattr(
        preparing, "list_sources", lambda paths: [type(s)(s.path, s.size + 100) for s in listed(paths)]
    )  # as if it shrank by 100 bytes meanwhile
    with pytest.raises(UserError, match="changed while prepare read it"):
        preparing.prepare([tmp_path / "data.txt"], tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_model_file_it_may_not_read_is_not_called_corrupt(tiny_run, monkeypatch):
    home, name = tiny_run
    real = builtins.open

    def denied(file, *args, **kwargs):
        if str(file).endswith(".safetensors"):
            raise PermissionError(13, "Permission denied", str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(UserError, match=r"cannot read model file .* \(Permission denied\); check its permissions"):
        api.load(name, home)


def test_a_run_stopped_by_damaged_data_mid_run_is_listed_as_stopped_not_killed(tmp_path, monkeypatch):
    (tmp_path / "text.txt").write_text("to be or not to be\n" * 3000)
    preparing.prepare([tmp_path / "text.txt"], tmp_path / "prepared")
    reads, real = [], corpus.Mapped.__getitem__

    def damaged(self, index):  # the third batch meets a damaged block, as a bad sector would be met mid-run
        if not isinstance(index, slice):  # a batch's windows, not the spot checks made before the run exists
            reads.append(index)
        if len(reads) == 3:
            raise UserError(f"prepared data file {self.path} holds token id 99999", "prepare it again")
        return real(self, index)

    monkeypatch.setattr(corpus.Mapped, "__getitem__", damaged)
    with pytest.raises(UserError, match="holds token id 99999"):
        api.train("tiny", data=tmp_path / "prepared", overrides={"max_steps": 50}, home=tmp_path / "home")
    [row] = api.runs(tmp_path / "home")
    assert row["status"] == "error"


def test_a_loss_that_is_not_finite_before_any_update_is_not_blamed_on_the_learning_rate():
    assert "not the learning rate" in str(Diverged(1, float("nan"), 1.0, 0.1))
    assert "lower it (for example lr=0.025)" in str(Diverged(7, float("nan"), 1.0, 0.1))
