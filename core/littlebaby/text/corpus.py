"""The token ids a run trains on: from a text file in memory, or a prepared directory on disk.

A prepared directory (written by `littlebaby prepare`, prepare.py) holds

    train.bin, val.bin   token ids, uint16 when the vocabulary fits, else uint32
    meta.json            format, tokenizer file, dtype, tokens and bytes per split, sources

and is opened with `np.memmap` (`Mapped`): a training step reads its windows
from the map, so a corpus larger than memory trains in bounded memory. Either
way text.Epochs draws the same batches from the ids.

Bits per byte make runs with different tokenizers comparable: the val loss
(nats per token) times tokens per byte of the val text, over ln 2.
"""

import hashlib
import math
import mmap
import os
from pathlib import Path

import attrs
import numpy as np

from littlebaby.errors import UserError, shown
from littlebaby.system import reading
from littlebaby.text import batches

MAX_TOKEN_BYTES = 1 << 20  # bytes one token may stand for in a prepared corpus's count
FORMAT = 1  # of meta.json; a directory of another format is prepared again
META, TRAIN, VAL = "meta.json", "train.bin", "val.bin"
PREPARE_AGAIN = "prepare it again: prepare {data=}TEXT {out=}DIR"  # say it with keys=PREPARE_KEYS
PREPARE_KEYS = ("data", "out")


class Mapped:
    """Token ids in a file, read through np.memmap as an array is indexed.

    Each read copies what it asked for and lets go of the mapped pages: the
    kernel maps 64 KB around every page touched, so without this a long run
    would count most of a large corpus in its resident memory. Each read is
    also checked against the vocabulary (a damaged file would otherwise index
    past the embedding); a batch costs one max, where checking the whole file
    up front would read a corpus of any size before training.
    """

    def __init__(self, path, dtype, tokens: int, vocab_size: int | None = None):
        self.map = np.memmap(path, dtype=dtype, mode="r", shape=(tokens,))
        self.dtype, self.path, self.vocab_size = self.map.dtype, path, vocab_size

    def __len__(self) -> int:
        return len(self.map)

    def spot_check(self, blocks: int = 64, size: int = 4096):
        """Read `blocks` evenly spaced blocks of `size` ids against the vocabulary, before a run
        exists: a file that is wrong throughout (another dtype, another tokenizer's ids, bytes
        overwritten) is refused at once for half a megabyte read, not at the first batch with
        the run's files already written. A damage in one place is still found by the read that meets it."""
        for start in np.unique(np.linspace(0, max(0, len(self) - size), blocks).astype(np.int64)):
            self[int(start) : int(start) + size]

    def __getitem__(self, index) -> np.ndarray:
        values = np.array(self.map[index])
        mapping = getattr(self.map, "_mmap", None)
        if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)  # a read-only file map: the pages stay in the page cache
        if self.vocab_size is not None and values.size and values.max() >= self.vocab_size:
            raise UserError(
                f"prepared data file {self.path} holds token id {int(values.max())}, but its tokenizer has "
                f"{self.vocab_size} tokens",
                PREPARE_AGAIN,
                PREPARE_KEYS,
            )
        return values

    def __iter__(self):
        return iter(self[:])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self[:] if dtype is None else self[:].astype(dtype)


@attrs.frozen
class Corpus:
    train: np.ndarray  # token ids (n_train,): an array, or `Mapped` from a file
    val: np.ndarray
    source: str
    val_bytes: int  # bytes of the text the val ids stand for
    split: str = "bytes"  # how train and val were cut (see from_text)
    fingerprint: str | None = None  # of a prepared directory (see fingerprint); None for a text

    def counts(self) -> dict:
        """What the report keeps about the ids (report.Data)."""
        prepared = {"prepared": True, "sha256": self.fingerprint} if self.fingerprint else {}
        return {
            **prepared,
            "split": self.split,
            "train_tokens": len(self.train),
            "val_tokens": len(self.val),
            "val_bytes": self.val_bytes,
            "val_bytes_per_token": round(self.val_bytes / len(self.val), 6),
        }


def bits_per_byte(loss: float, bytes_per_token: float) -> float:
    """Val loss in nats per token -> bits per byte of text."""
    return loss / bytes_per_token / math.log(2)


def count_bytes(tokenizer, ids, chunk: int = 1 << 22) -> int:
    """Bytes of text `ids` stand for, a chunk at a time (ids may be a memmap)."""
    lengths = tokenizer.byte_lengths()
    return int(sum(lengths[np.asarray(ids[i : i + chunk])].sum() for i in range(0, len(ids), chunk)))


def dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def from_text(corpus: str, tokenizer, n_ctx: int, name: str, split: str = "bytes") -> Corpus:
    """The ids of a text, split by its bytes before tokenizing (split="bytes"), or as runs made before that
    were split (split="tokens": the last 10% of the ids, whose bytes then depend on the tokenizer)."""
    if split == "tokens":
        train, val = batches.split(tokenizer.encode(corpus), n_ctx, name)
        return Corpus(train, val, name, count_bytes(tokenizer, val), split)
    train_text, val_text = batches.split_text(corpus)
    train, val = tokenizer.encode(train_text), tokenizer.encode(val_text)
    batches.check_split(train, val, n_ctx, name)
    return Corpus(train, val, name, len(val_text.encode("utf-8")))


# -- prepared directories ----------------------------------------------------------------
def _bad(directory, problem: str, fix: str = PREPARE_AGAIN):
    return UserError(f"prepared data {directory}: {problem}", fix)


def _checked(read):
    """read(), whose one-line refusal (reading.py: missing, not a regular file, too large, not strict
    JSON) says to prepare the directory again."""
    try:
        return read()
    except UserError as error:
        raise UserError(error.raw_problem, PREPARE_AGAIN, (*error.keys, *PREPARE_KEYS)) from None


def read_meta(directory) -> dict:
    directory = Path(directory)
    path = directory / META
    if not os.path.lexists(path):  # a directory or a dangling link in its place is named as such below
        files = [p for p in directory.iterdir()] if directory.is_dir() else []
        problem = "is an empty directory" if not files else f"has no {META}, so it is not a prepared corpus"
        raise UserError(
            f"data directory {directory} {problem}",
            f"prepare it first: prepare {{data=}}{directory} {{out=}}PREPARED",
            ("data", "out"),
        )
    meta = _checked(lambda: reading.read_json(path, "prepared data file"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise _bad(directory, f"{META} is format {found!r}; this littlebaby reads format {FORMAT}")
    if not isinstance(meta.get("tokenizer_options", {}), dict):
        raise _bad(directory, f"{META} gives tokenizer_options {shown(meta['tokenizer_options'])}, not keys and values")
    return meta


def open_split(directory, meta: dict, split: str, vocab_size: int | None = None) -> np.ndarray:
    """The ids of one split, memory-mapped, after checking the file's size against meta (and each
    read's ids against vocab_size)."""
    path = Path(directory) / (TRAIN if split == "train" else VAL)
    try:
        name, tokens = meta["dtype"], int(meta["splits"][split]["tokens"])
    except (KeyError, TypeError, ValueError) as error:
        raise _bad(directory, f"{META} lacks a valid dtype or token count ({error})") from None
    if name not in (
        "uint16",
        "uint32",
    ):  # by name: numpy calls '>u2' (big-endian) uint16 too, and reads it byte-swapped
        raise _bad(directory, f"{META} gives dtype {shown(name)}, not uint16 or uint32")
    dtype = np.dtype(name)
    size = _checked(lambda: reading.size_of(path, "prepared data file"))
    if size != tokens * dtype.itemsize:
        raise _bad(
            directory,
            f"{path.name} has {size} bytes, but {META} says {tokens} {dtype.name} tokens "
            f"({tokens * dtype.itemsize} bytes)",
        )
    if tokens == 0:
        return np.zeros(0, dtype)  # an empty file cannot be mapped
    mapped = Mapped(path, dtype, tokens, vocab_size)
    if vocab_size is not None:
        mapped.spot_check()
    return mapped


def open_prepared(directory, meta: dict, tokenizer, n_ctx: int) -> Corpus:
    """The Corpus of a prepared directory (its meta, and the tokenizer meta records); all checked before training."""
    train, val = (open_split(directory, meta, split, tokenizer.vocab_size) for split in ("train", "val"))
    if tokenizer.vocab_size > np.iinfo(np.dtype(meta["dtype"])).max + 1:
        raise _bad(directory, f"its tokenizer has {tokenizer.vocab_size} tokens, more than {train.dtype.name} holds")
    if min(len(train), len(val)) < n_ctx + 1:
        raise UserError(
            f"prepared data {directory} has {len(train)} train and {len(val)} val tokens; each split needs one window "
            f"of n_ctx + 1 = {n_ctx + 1}",
            "prepare more text or lower {n_ctx}",
            "n_ctx",
        )
    given = meta["splits"]["val"].get("bytes")  # counted again when absent
    if given is None:
        val_bytes = count_bytes(tokenizer, val)
    elif isinstance(given, bool) or not isinstance(given, int) or not len(val) <= given <= len(val) * MAX_TOKEN_BYTES:
        # a token stands for at least a byte; far more than a megabyte each is a lie that would make bits per byte 0
        raise _bad(directory, f"{META} gives {shown(given)} val bytes for {len(val)} val tokens")
    else:
        val_bytes = given
    return Corpus(train, val, str(Path(directory).resolve()), val_bytes, fingerprint=fingerprint(directory))


FINGERPRINT_BLOCKS, FINGERPRINT_BLOCK = 64, 4096


def fingerprint(directory) -> str:
    """A sha256 of what a prepared directory holds, for resume to refuse one rewritten since: meta.json whole, and
    the size and 64 evenly spaced 4 KB blocks of each .bin (hashing a corpus larger than memory whole would read
    all of it at every start; the blocks catch a file rewritten throughout, as prepare rewrites one)."""
    digest = hashlib.sha256((Path(directory) / META).read_bytes())
    for name in (TRAIN, VAL):
        path = Path(directory) / name
        size = path.stat().st_size
        digest.update(f"{name} {size}".encode())
        with open(path, "rb") as f:
            for start in sorted({int(s) for s in np.linspace(0, max(0, size - FINGERPRINT_BLOCK), FINGERPRINT_BLOCKS)}):
                f.seek(start)
                digest.update(f.read(FINGERPRINT_BLOCK))
    return digest.hexdigest()


def sampled_digest(ids) -> bytes:
    """A sha256 of an array of ids (or a `Mapped` file of them): its length and dtype, and all of it when small,
    else 64 evenly spaced 4 KB blocks (a memory-mapped corpus larger than memory is read a block at a time, never
    whole: np.asarray of a `Mapped` would copy all of it)."""
    dtype, size = np.dtype(ids.dtype), len(ids)
    block = max(1, FINGERPRINT_BLOCK // dtype.itemsize)  # ids per block
    digest = hashlib.sha256(f"{dtype} {size}".encode())
    if size <= FINGERPRINT_BLOCKS * block * 16:
        digest.update(np.ascontiguousarray(ids[:]).tobytes())
    else:
        for start in np.linspace(0, size - block, FINGERPRINT_BLOCKS).astype(np.int64):
            digest.update(np.ascontiguousarray(ids[int(start) : int(start) + block]).tobytes())
    return digest.digest()
