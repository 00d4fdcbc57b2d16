"""Corpora: memory-mapped ids give the same batches as in memory; prepared directories are checked first."""

import json
import math
import os

import numpy as np
import pytest

from littlebaby.errors import UserError
from littlebaby.runs import prepare as preparing
from littlebaby.runs.data import open_prepared
from littlebaby.text import corpus
from littlebaby.text.batches import Epochs, val_windows
from littlebaby.text.char import CharTokenizer

TEXT = "It is the east, and Juliet is the sun. Ἀντιγόνη.\n" * 40


def test_memmap_batches_equal_in_memory_batches(tmp_path):
    ids = np.random.default_rng(0).integers(0, 3000, size=5000)
    ids.astype(np.uint16).tofile(tmp_path / "train.bin")
    mapped = corpus.Mapped(tmp_path / "train.bin", np.uint16, len(ids))
    in_memory, on_disk = Epochs(ids, 16, 8, seed=5), Epochs(mapped, 16, 8, seed=5)
    for step in (0, 1, 17, in_memory.steps_per_epoch + 3):  # the next epoch too
        for a, b in zip(in_memory.batch(step), on_disk.batch(step)):
            assert b.dtype == np.int64
            np.testing.assert_array_equal(a, b)
    for a, b in zip(val_windows(ids, 16, 32), val_windows(mapped, 16, 32)):
        np.testing.assert_array_equal(a, b)


def test_bits_per_byte_is_loss_per_byte_in_bits():
    assert corpus.bits_per_byte(2 * math.log(2), bytes_per_token=2.0) == pytest.approx(1.0)
    tokenizer = CharTokenizer.from_text(TEXT)
    data = corpus.from_text(TEXT, tokenizer, 8, "text")
    assert data.val_bytes == len(tokenizer.decode(data.val).encode("utf-8")) > len(data.val)  # Greek takes 2 bytes


@pytest.fixture
def prepared(tmp_path):
    (tmp_path / "text.txt").write_text(TEXT, encoding="utf-8")
    preparing.prepare([tmp_path / "text.txt"], tmp_path / "prepared")
    return tmp_path / "prepared"


def test_open_prepared_gives_the_ids_of_the_text(prepared):
    tokenizer, data, meta = open_prepared(prepared, n_ctx=8)
    assert isinstance(data.train, corpus.Mapped) and data.train.dtype == np.uint16
    assert tokenizer.decode(data.train) + tokenizer.decode(data.val) == TEXT
    assert data.val_bytes == meta["splits"]["val"]["bytes"] == len(tokenizer.decode(data.val).encode("utf-8"))


def _val_bytes(directory, count):
    meta = json.loads((directory / corpus.META).read_text())
    meta["splits"]["val"]["bytes"] = count
    (directory / corpus.META).write_text(json.dumps(meta))


def _rewrite_meta(directory, **changes):
    meta = json.loads((directory / corpus.META).read_text())
    meta.update(changes)
    (directory / corpus.META).write_text(json.dumps(meta))


BAD = {
    "empty directory": (lambda d: [p.unlink() for p in d.iterdir()], "is an empty directory"),
    "no meta": (lambda d: (d / corpus.META).unlink(), "has no meta.json"),
    "other format": (lambda d: _rewrite_meta(d, format=99), "format 99; this littlebaby reads format 1"),
    "short bin": (lambda d: (d / corpus.VAL).write_bytes((d / corpus.VAL).read_bytes()[:-2]), "val.bin has"),
    "missing bin": (lambda d: (d / corpus.TRAIN).unlink(), r"train.bin not found; prepare it again"),
    "a directory for a bin": (
        lambda d: (d / corpus.TRAIN).unlink() or (d / corpus.TRAIN).mkdir(),
        "train.bin is a directory",
    ),
    "a dangling link for a bin": (
        lambda d: (d / corpus.VAL).unlink() or (d / corpus.VAL).symlink_to(d / "gone"),
        "val.bin is a symbolic link to a missing file",
    ),
    "a FIFO for a bin": (lambda d: (d / corpus.TRAIN).unlink() or os.mkfifo(d / corpus.TRAIN), "train.bin is a FIFO"),
    "a directory for meta": (
        lambda d: (d / corpus.META).unlink() or (d / corpus.META).mkdir(),
        "meta.json is a directory",
    ),
    "not JSON": (lambda d: (d / corpus.META).write_text("{"), "meta.json is not valid JSON"),
    "NaN in meta": (
        lambda d: (d / corpus.META).write_text((d / corpus.META).read_text().replace('"format": 1', '"format": NaN')),
        "NaN is not a number JSON allows",
    ),
    "huge meta": (lambda d: os.truncate(d / corpus.META, 1 << 30), "meta.json is 1.0 GiB, more than"),
    "options not a dict": (lambda d: _rewrite_meta(d, tokenizer_options=[1]), "tokenizer_options \\[1\\], not keys"),
    "bad dtype": (lambda d: _rewrite_meta(d, dtype="float32"), "not uint16 or uint32"),
    "val bytes past a float": (lambda d: _val_bytes(d, 10**400), "gives 1000000000000000000000000000000"),
    "val bytes no tokens could stand for": (lambda d: _val_bytes(d, 10**300), "val bytes for"),
    "fewer val bytes than tokens": (lambda d: _val_bytes(d, 1), "gives 1 val bytes for"),
    "smaller than a window": (lambda d: None, "needs one window"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_prepared_directories_are_one_line(prepared, case):
    damage, message = BAD[case]
    damage(prepared)
    with pytest.raises(UserError, match=message) as error:
        open_prepared(prepared, n_ctx=1000 if case == "smaller than a window" else 8)
    assert "\n" not in str(error.value)


def test_a_long_epoch_is_shuffled_in_blocks_and_still_visits_every_window_once(monkeypatch):
    from littlebaby.text import batches as text

    monkeypatch.setattr(text, "SHUFFLE_BLOCK", 16)
    ids = np.arange(10 * 100 + 10 + 7)  # 100 windows of 10: six full blocks and a partial one
    epochs = Epochs(ids, n_ctx=10, batch_size=3, seed=1)
    order = np.concatenate([epochs.starts(0, np.arange(p, p + 1)) for p in range(epochs.windows_per_epoch)])
    assert len(set(order)) == epochs.windows_per_epoch == 100 and len(set(order % 10)) == 1  # one offset
    assert order.max() + 11 <= len(ids) and not np.array_equal(order, np.sort(order))
    again = Epochs(ids, n_ctx=10, batch_size=3, seed=1)
    np.testing.assert_array_equal(again.batch(7)[0], epochs.batch(7)[0])  # reproducible from (seed, epoch)
    assert not np.array_equal(order, np.concatenate([epochs.starts(1, np.arange(p, p + 1)) for p in range(100)]))


def test_the_digest_ranks_compare_reads_a_mapped_corpus_a_block_at_a_time(tmp_path):
    """sampled_digest of a corpus larger than memory must not copy it whole (np.asarray of a Mapped would)."""
    import tracemalloc

    path = tmp_path / "train.bin"
    with open(path, "wb") as f:
        f.truncate(64 << 20)  # 32 M uint16 ids, sparse on disk
    mapped = corpus.Mapped(path, "uint16", 32 << 20)
    tracemalloc.start()
    digest = corpus.sampled_digest(mapped)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 << 20, f"{peak / 2**20:.0f} MiB read for a digest of 64 MiB"
    in_memory = np.zeros(32 << 20, dtype=np.uint16)
    assert digest == corpus.sampled_digest(in_memory)  # the same blocks, whether mapped or not
    in_memory[100] = 1  # a change inside the first sampled block
    assert corpus.sampled_digest(in_memory) != digest
    small = np.arange(1000, dtype=np.uint16)
    assert corpus.sampled_digest(small) != corpus.sampled_digest(small[::-1].copy())  # a small one hashed whole
