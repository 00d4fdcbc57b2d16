"""prepare: files and directories in, token ids and meta.json out, streamed, atomic, one-line errors."""

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from littlebaby.errors import UserError
from littlebaby.runs import prepare as preparing
from littlebaby.runs.data import open_prepared
from littlebaby.text import corpus, source
from littlebaby.text.batches import split_text
from littlebaby.text.source import SNIFF

ENGLISH = "But, soft! what light through yonder window breaks?\n" * 60
GREEK = "Ισμήνη, αδελφούλα μου, εσύ αγαπημένο κεφαλάκι.\n" * 40


@pytest.fixture
def sources(tmp_path):
    folder = tmp_path / "books"
    (folder / "greek").mkdir(parents=True)
    (folder / "a.txt").write_text(ENGLISH, encoding="utf-8")
    (folder / "greek" / "b.txt").write_text(GREEK, encoding="utf-8")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 20)
    return folder


def decoded(out):
    tokenizer, data, meta = open_prepared(out, n_ctx=4)
    return tokenizer.decode(data.train), tokenizer.decode(data.val), meta


@pytest.mark.parametrize("overrides", [[], ["c_tokenizer=bpe", "vocab_size=300"]], ids=["char", "bpe"])
def test_the_ids_decode_to_the_sources_split_ninety_ten(tmp_path, sources, overrides):
    with pytest.warns(UserWarning, match="skipping .*picture.png"):
        preparing.prepare([sources], tmp_path / "out", overrides)
    train, val, meta = decoded(tmp_path / "out")
    whole = ENGLISH + GREEK  # a directory's files in sorted path order
    assert train + val == whole
    assert (
        len(train.encode("utf-8"))
        == meta["splits"]["train"]["bytes"]
        == pytest.approx(0.9 * len(whole.encode("utf-8")), abs=2)
    )
    assert [s["sha256"] for s in meta["sources"]] == [
        hashlib.sha256(t.encode("utf-8")).hexdigest() for t in (ENGLISH, GREEK)
    ]
    assert meta["tokenizer"]["tokenizer"] == ("bpe" if overrides else "char") and meta["dtype"] == "uint16"
    assert "all" in meta["tokenizer_trained_on"] and "90%" in meta["split_rule"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_large_corpus_trains_the_tokenizer_on_a_sample_and_still_encodes_all(tmp_path, sources, monkeypatch):
    monkeypatch.setattr(preparing, "BLOCK", 256)  # blocks and sample far smaller than the corpus
    monkeypatch.setattr(preparing, "SAMPLE_BYTES", 512)
    meta = preparing.prepare([sources / "a.txt", sources / "greek"], tmp_path / "out")
    assert "sample of 512 bytes" in meta["tokenizer_trained_on"]
    train, val, _ = decoded(tmp_path / "out")
    assert train + val == ENGLISH + GREEK  # char grew by extend for what the sample missed


def test_uint32_when_the_vocabulary_does_not_fit_uint16():
    assert corpus.dtype_for(65536) == "uint16" and corpus.dtype_for(65537) == "uint32"


def test_not_utf8_after_the_first_bytes_leaves_nothing(tmp_path, sources):
    (sources / "late.txt").write_bytes(b"a" * (SNIFF + 10) + b"caf\xe9")
    with pytest.raises(UserError, match="late.txt is not UTF-8"), pytest.warns(UserWarning):
        preparing.prepare([sources], tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["books"]


def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_prepare_then_train_from_the_directory(tmp_path, sources):
    done = cli(
        "prepare",
        "--data",
        sources,
        "--set",
        "c_tokenizer=bpe",
        "--set",
        "vocab_size=300",
        "--out",
        "prepared",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0 and done.stderr.count("\n") == 1 and "picture.png" in done.stderr, done.stderr
    assert "bpe vocabulary of 300" in done.stdout
    done = cli(
        "train",
        "--config",
        "tiny",
        "--data",
        "prepared",
        "--set",
        "n_ctx=8",
        "--set",
        "max_steps=2",
        "--quiet",
        "--home",
        "h",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "bits per byte" in done.stdout
    report = json.loads(next((tmp_path / "h" / "outputs").glob("report_*.json")).read_text())
    assert report["config"]["c_tokenizer"] == "bpe" and report["config"]["vocab_size"] == 300
    assert report["data"]["train_tokens"] > 0 and report["best_val_bpb"] > 0
    runs = cli("runs", "--home", "h", cwd=tmp_path)
    assert "best_val_bpb" in runs.stdout and f"{report['best_val_bpb']:.4f}" in runs.stdout


def _prepared(tmp, sources):
    preparing.prepare([sources / "a.txt"], tmp / "prepared")
    return tmp / "prepared"


def _damage_bin(tmp, sources):
    out = _prepared(tmp, sources)
    (out / corpus.TRAIN).write_bytes(b"\x00" * 6)
    return out


def _replace(tmp, sources, name, by):
    out = _prepared(tmp, sources)
    (out / name).unlink()
    by(out / name)
    return out


BAD = {
    "empty directory": (
        lambda tmp, s: ["prepare", "--data", (tmp / "void").mkdir() or tmp / "void", "--out", tmp / "o"],
        "is empty",
    ),
    "no text files": (
        lambda tmp, s: ["prepare", "--data", s / "picture.png", "--out", tmp / "o"],
        "no UTF-8 text files",
    ),
    "out exists": (lambda tmp, s: ["prepare", "--data", s, "--out", s], "exists"),
    "missing path": (lambda tmp, s: ["prepare", "--data", tmp / "nope", "--out", tmp / "o"], "data path"),
    "bpe vocabulary too small": (
        lambda tmp, s: [
            "prepare",
            "--data",
            s,
            "--set",
            "c_tokenizer=bpe",
            "--set",
            "vocab_size=100",
            "--out",
            tmp / "o",
        ],
        "vocab_size must be at least 257",
    ),
    "a training key": (lambda tmp, s: ["prepare", "--data", s, "--set", "n_ctx=3", "--out", tmp / "o"], "not n_ctx"),
    "a training key beside bpe's": (
        lambda tmp, s: ["prepare", "--data", s, "--set", "c_tokenizer=bpe", "--set", "lr=1", "--out", tmp / "o"],
        "the tokenizer's options (vocab_size), not lr",
    ),
    "bad tokenizer": (
        lambda tmp, s: ["prepare", "--data", s, "--set", "c_tokenizer=wordpiece", "--out", tmp / "o"],
        "pip install littlebaby-tokenizer-wordpiece",
    ),
    "train on an unprepared directory": (
        lambda tmp, s: ["train", "--data", s, "--home", tmp / "h"],
        "not a prepared corpus",
    ),
    "train on an empty directory": (
        lambda tmp, s: ["train", "--data", (tmp / "void").mkdir() or tmp / "void", "--home", tmp / "h"],
        "empty directory",
    ),
    "smaller than one window": (
        lambda tmp, s: ["train", "--data", _prepared(tmp, s), "--set", "n_ctx=1024", "--home", tmp / "h"],
        "needs one window",
    ),
    "bin disagrees with meta": (
        lambda tmp, s: ["train", "--data", _damage_bin(tmp, s), "--home", tmp / "h"],
        "train.bin has 6 bytes",
    ),
    "a FIFO for data": (
        lambda tmp, s: ["prepare", "--data", os.mkfifo(tmp / "fifo") or tmp / "fifo", "--out", tmp / "o"],
        "fifo is a FIFO (named pipe), not a regular file",
    ),
    "a device for data": (
        lambda tmp, s: ["prepare", "--data", "/dev/zero", "--out", tmp / "o"],
        "/dev/zero is a character device",
    ),
    "a dangling link for data": (
        lambda tmp, s: ["prepare", "--data", (tmp / "l").symlink_to(tmp / "gone") or tmp / "l", "--out", tmp / "o"],
        "l is a symbolic link to a missing file",
    ),
    "a dangling link for out": (
        lambda tmp, s: ["prepare", "--data", s, "--out", (tmp / "l").symlink_to(tmp / "gone") or tmp / "l"],
        "exists",
    ),
    "a file given as a directory": (
        lambda tmp, s: ["prepare", "--data", f"{s / 'a.txt'}/", "--out", tmp / "o"],
        "a.txt/ ends as a directory's path does, but",
    ),  # pathlib dropped the slash: prepared a.txt
    "out under a file": (
        lambda tmp, s: ["prepare", "--data", s, "--out", s / "a.txt" / "o"],
        "a.txt is a file, not a directory",
    ),
    "bad options for a nested out": (
        lambda tmp, s: [
            "prepare",
            "--data",
            s,
            "--set",
            "c_tokenizer=bpe",
            "--set",
            "vocab_size=1",
            "--out",
            tmp / "new" / "deeper" / "o",
        ],
        "vocab_size must be at least 257",
    ),
    "a directory for train.bin": (
        lambda tmp, s: ["train", "--data", _replace(tmp, s, corpus.TRAIN, Path.mkdir), "--home", tmp / "h"],
        "train.bin is a directory, not a regular file",
    ),
    "a dangling link for train.bin": (
        lambda tmp, s: [
            "train",
            "--data",
            _replace(tmp, s, corpus.TRAIN, lambda p: p.symlink_to(tmp / "gone")),
            "--home",
            tmp / "h",
        ],
        "train.bin is a symbolic link to a missing file",
    ),
    "a directory for meta.json": (
        lambda tmp, s: ["train", "--data", _replace(tmp, s, corpus.META, Path.mkdir), "--home", tmp / "h"],
        "meta.json is a directory, not a regular file",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_exit_2(tmp_path, sources, case):
    arguments, message = BAD[case]
    args = arguments(tmp_path, sources)
    before = sorted(tmp_path.rglob("*"))
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    error = [line for line in done.stderr.splitlines() if not line.startswith("littlebaby: warning:")]
    assert len(error) == 1 and error[0].startswith("littlebaby: error: ") and message in error[0], done.stderr
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_a_prepared_corpus_inside_the_data_is_skipped(tmp_path, sources):
    preparing.prepare([sources / "a.txt"], sources / "prepared")
    with pytest.warns(UserWarning) as caught:
        preparing.prepare([sources], tmp_path / "again")
    # only prepare's own warnings: an earlier test's garbage (a notebook kernel's zmq sockets) may warn here too
    ours = [w for w in caught if issubclass(w.category, UserWarning)]
    assert sorted(str(w.message).split(": ")[-1] for w in ours) == ["a prepared corpus", "not a UTF-8 text file"]
    train, val, meta = decoded(tmp_path / "again")
    assert train + val == ENGLISH + GREEK and len(meta["sources"]) == 2


def test_a_write_that_fails_is_one_line_and_leaves_nothing(tmp_path):
    (tmp_path / "big.txt").write_text(ENGLISH * 100, encoding="utf-8")

    def small_files():  # as a full disk would: writes past 50 kB fail with EFBIG (not the default SIGXFSZ)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    done = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "prepare", "--data", "big.txt", "--out", "o", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=small_files,
    )
    assert (
        done.returncode == 2
        and done.stderr
        == "littlebaby: error: cannot write o (File too large); free some disk space; nothing was written\n"
    ), done.stderr
    assert os.listdir(tmp_path) == ["big.txt"]


def test_a_file_met_twice_is_prepared_once(tmp_path, sources):
    (sources / "greek" / "again.txt").symlink_to(sources / "a.txt")
    with pytest.warns(UserWarning) as caught:
        preparing.prepare([sources / "a.txt", sources / "greek", sources / "a.txt"], tmp_path / "o")
    assert sorted(str(w.message) for w in caught if "same file" in str(w.message)) == [
        f"skipping {sources / 'a.txt'}: the same file as {sources / 'a.txt'}",
        f"skipping {sources / 'greek' / 'again.txt'}: the same file as {sources / 'a.txt'}",
    ]
    train, val, meta = decoded(tmp_path / "o")
    assert train + val == ENGLISH + GREEK and len(meta["sources"]) == 2  # none of the val text is also train text


def test_a_killed_prepares_leftover_is_removed_by_the_next(tmp_path, sources):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    leftover = tmp_path / f".o.{dead}.abc123.tmp"
    (leftover / "train.bin").parent.mkdir()
    (leftover / "train.bin").write_bytes(b"\x00" * 64)
    preparing.prepare([sources / "a.txt"], tmp_path / "o")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["books", "o"]


def test_ids_beyond_the_vocabulary_are_one_line_not_an_index_error(tmp_path, sources):
    out = _prepared(tmp_path, sources)
    ids = np.fromfile(out / corpus.TRAIN, dtype=np.uint16)
    ids[::7] = 60000  # a damaged file of the right size
    ids.tofile(out / corpus.TRAIN)
    done = cli(
        "train",
        "--config",
        "tiny",
        "--data",
        out,
        "--set",
        "n_ctx=8",
        "--set",
        "max_steps=2",
        "--quiet",
        "--home",
        "h",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "train.bin holds token id 60000, but its tokenizer has" in done.stderr and "prepare it again" in done.stderr


def _lie_about_dtype(out):
    meta = json.loads((out / corpus.META).read_text())
    (out / corpus.META).write_text(json.dumps(meta | {"dtype": ">u2"}))  # big-endian: np.dtype calls it uint16 too


def _cut_vocabulary(out):
    meta = json.loads((out / corpus.META).read_text())
    meta["tokenizer"]["vocab"] = meta["tokenizer"]["vocab"][:10]
    meta["tokenizer"]["vocab_size"] = 10
    (out / corpus.META).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage,message",
    [
        (
            lambda out: (out / corpus.TRAIN).write_bytes(b"\xff" * (out / corpus.TRAIN).stat().st_size),
            "train.bin holds token id 65535",
        ),
        (_lie_about_dtype, "dtype '>u2', not uint16 or uint32"),
        (_cut_vocabulary, "holds token id"),
    ],
)
def test_a_corpus_whose_ids_cannot_be_right_is_refused_before_the_run_exists(tmp_path, sources, damage, message):
    # found only at the first batch: the run's config, lock and report were left behind
    out = _prepared(tmp_path, sources)
    damage(out)
    done = cli(
        "train",
        "--config",
        "tiny",
        "--data",
        out,
        "--set",
        "n_ctx=8",
        "--set",
        "max_steps=2",
        "--quiet",
        "--home",
        "h",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "h").exists()


def test_a_signal_landing_as_the_temporary_is_made_leaves_nothing(tmp_path, sources, monkeypatch):
    # the subprocess test below sends its signal once the temporary exists: landing between
    # mkdtemp and the assignment of its result, it was outside the clean-up (CI saw it once)
    made = preparing.tempfile.mkdtemp

    def made_then_stopped(*args, **kwargs):
        made(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(preparing.tempfile, "mkdtemp", made_then_stopped)
    with pytest.raises(KeyboardInterrupt):
        preparing.prepare([sources / "a.txt"], tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["books"]


@pytest.mark.parametrize("other", ["a corpus", "an empty directory"])
def test_an_out_that_appears_while_preparing_is_named_and_kept(tmp_path, sources, monkeypatch, other):
    # another prepare into the same out finished first: the rename failed with "cannot write out
    # (Directory not empty)", which did not say why; an empty directory was quietly replaced
    encode = preparing._encode

    def encode_while_another_writes(*args, **kwargs):
        (tmp_path / "out").mkdir()
        if other == "a corpus":
            (tmp_path / "out" / "meta.json").write_text("{}")
        return encode(*args, **kwargs)

    monkeypatch.setattr(preparing, "_encode", encode_while_another_writes)
    with pytest.raises(UserError) as error:
        preparing.prepare([sources / "a.txt"], tmp_path / "out")
    assert str(error.value) == (
        f"out={tmp_path / 'out'} appeared while this prepare ran (another prepare wrote it?); "
        "give a new directory (prepare never overwrites); nothing was written"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["books", "out"]  # no temporary left beside it
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == (["meta.json"] if other == "a corpus" else [])


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_prepare_stopped_by_a_scheduler_leaves_nothing(tmp_path, name):
    # Ctrl-C removed the temporary directory on the way out; SIGTERM and SIGHUP killed the process and left it
    words = np.random.default_rng(0).choice(["alpha", "beta", "gamma", "delta", "omega", "sigma", "\n"], size=1_500_000)
    (tmp_path / "big.txt").write_text(" ".join(words))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "littlebaby.cli",
            "prepare",
            "--data",
            "big.txt",
            "--out",
            "o",
            "--set",
            "c_tokenizer=bpe",
            "--set",
            "vocab_size=300",
            "--quiet",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not any(p.name.startswith(".o.") for p in tmp_path.iterdir()) and process.poll() is None:
        pass
    process.send_signal(getattr(signal, name))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + getattr(signal, name), err
    assert err == "littlebaby: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt"]


@pytest.mark.parametrize("overrides", [[], ["c_tokenizer=bpe", "vocab_size=300"]], ids=["char", "bpe"])
def test_ids_prepared_in_small_blocks_and_batches_are_those_of_each_split_encoded_whole(
    tmp_path, overrides, monkeypatch
):
    monkeypatch.setattr(source, "BLOCK", 97)  # many blocks, cut inside lines, encoded a few at a time
    monkeypatch.setattr(preparing, "BATCH", 300)
    text = (ENGLISH + "  \n\n" + GREEK.replace("\n", "  ")) * 3  # runs of spaces, and a line of 3,000 characters
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    preparing.prepare([tmp_path / "a.txt"], tmp_path / "out", overrides)
    tokenizer, data, _ = open_prepared(tmp_path / "out", n_ctx=4)
    train, val = split_text(text)
    assert np.array_equal(data.train[:], tokenizer.encode(train)) and np.array_equal(data.val[:], tokenizer.encode(val))


def test_threads_bound_the_tokenizer_pool_and_change_no_id(tmp_path, sources, monkeypatch):
    monkeypatch.setenv("RAYON_NUM_THREADS", "2")  # restored after the test: prepare sets it for this process
    bpe = ["c_tokenizer=bpe", "vocab_size=300"]
    with pytest.warns(UserWarning, match="picture.png"):
        preparing.prepare([sources], tmp_path / "one", [*bpe, "threads=1"])
    assert os.environ["RAYON_NUM_THREADS"] == "1"
    with pytest.warns(UserWarning, match="picture.png"):
        preparing.prepare([sources], tmp_path / "all", bpe)
    for name in (corpus.TRAIN, corpus.VAL):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "all" / name).read_bytes()


def test_the_prepared_folder_is_the_same_whatever_the_number_of_worker_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(source, "BLOCK", 97)  # many blocks, a few to a batch: every worker gets some
    monkeypatch.setattr(preparing, "BATCH", 300)
    text = (ENGLISH + "  \n\n" + GREEK.replace("\n", "  ")) * 3
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    bpe = ["c_tokenizer=bpe", "vocab_size=300"]
    for threads in (1, 2, 3):  # 1: in this process
        preparing.prepare([tmp_path / "a.txt"], tmp_path / f"out{threads}", [*bpe, f"threads={threads}"])
    files = sorted(p.name for p in (tmp_path / "out1").iterdir())
    assert files == sorted([corpus.META, corpus.TRAIN, corpus.VAL])
    for threads in (2, 3):
        for name in files:
            assert (tmp_path / f"out{threads}" / name).read_bytes() == (tmp_path / "out1" / name).read_bytes(), name
    tokenizer, data, _ = open_prepared(tmp_path / "out3", n_ctx=4)
    train, val = split_text(text)
    assert np.array_equal(data.train[:], tokenizer.encode(train)) and np.array_equal(data.val[:], tokenizer.encode(val))


def test_a_worker_process_that_fails_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    from littlebaby.runs import encoding

    monkeypatch.setattr(preparing, "BATCH", 300)
    monkeypatch.setattr(encoding.tokenizers, "to_file", lambda _: {"tokenizer": "bpe", "library": "{"})
    (tmp_path / "a.txt").write_text(ENGLISH * 3, encoding="utf-8")
    with pytest.raises(UserError, match="holds no valid BPE") as error:
        preparing.prepare([tmp_path / "a.txt"], tmp_path / "out", ["c_tokenizer=bpe", "vocab_size=300", "threads=2"])
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_the_command_prepares_a_corpus_over_a_batch_on_workers_as_on_one_process(tmp_path):
    words = np.random.default_rng(1).choice(["alpha", "beta", "gamma", "delta", "omega", "\n"], size=1_800_000)
    (tmp_path / "big.txt").write_text(" ".join(words))
    assert (tmp_path / "big.txt").stat().st_size > preparing.BATCH  # so the batches go to worker processes
    for threads in (2, 1):
        done = subprocess.run(
            [sys.executable, "-m", "littlebaby.cli", "prepare", "--data", "big.txt", "--out", f"out{threads}"]
            + ["--set", "c_tokenizer=bpe", "--set", "vocab_size=300", "--set", f"threads={threads}", "--quiet"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
    for name in (corpus.META, corpus.TRAIN, corpus.VAL):
        assert (tmp_path / "out2" / name).read_bytes() == (tmp_path / "out1" / name).read_bytes(), name
