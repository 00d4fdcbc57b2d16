"""`littlebaby prepare`: text files -> a tokenizer and token ids on disk (corpus.py reads them).

It streams: files are read in blocks of BLOCK bytes, encoded and appended to
train.bin / val.bin, so memory stays bounded whatever the corpus size. The
tokenizer learns from all the text, or for a corpus over SAMPLE_BYTES from
SAMPLE_BYTES of evenly spaced pieces (stated in meta.json); text the sample
missed still encodes, since `extend` is applied to every block (char appends
the characters it lacks, bpe encodes every byte as it is).

Split rule: the sources are concatenated in the order listed (a directory's
files sorted by path); the first 90% of the bytes train, the rest validate.
Everything is written into a temporary directory beside --out and renamed at
the end, so a failure leaves nothing half-written (and the temporary directory
of a prepare that was killed is removed by the next prepare of the same out).
"""

import codecs
import contextlib
import glob
import hashlib
import itertools
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import attrs
import numpy as np
from tqdm import tqdm

from littlebaby.config import block_options, converter
from littlebaby.configs import with_overrides
from littlebaby.errors import UserError, shown
from littlebaby.plugins import resolve
from littlebaby.system import arguments, atomic, processes, reading
from littlebaby.text import batches, corpus
from littlebaby.text import tokenizer as tokenizers

BLOCK = 1 << 20  # bytes read, decoded and encoded at a time
SAMPLE_BYTES = 64 << 20  # a tokenizer learns from at most this much text
SNIFF = 1 << 16  # bytes looked at to tell a text file from another file


@attrs.frozen
class Source:
    path: Path
    size: int


@contextlib.contextmanager
def _reading(path):
    """A source that cannot be read (gone since it was listed, unreadable) is a one-line UserError."""
    try:
        yield
    except OSError as error:
        raise UserError(
            f"cannot read data file {path} ({error.strerror or error})", "check the file, or leave it out"
        ) from None


def is_text(path: Path) -> bool:
    """UTF-8 without NUL bytes in its first SNIFF bytes (a cut character at the end is fine)."""
    with _reading(path), open(path, "rb") as f:
        head = f.read(SNIFF)
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def list_sources(paths) -> list[Source]:
    """Text files of the given files and directories; other files, and a file met again (given
    twice, or through a link: its text would be in both splits), are skipped with a warning."""
    found, seen = [], {}  # resolved path -> the path it was first met by
    for given in map(Path, paths):
        if given.is_dir():
            candidates = sorted(
                p
                for p in given.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(given).parts)
            )
            if not candidates:
                raise UserError(f"data directory {given} is empty", "give a directory holding UTF-8 text files")
        else:
            try:  # names what stands there: nothing, a dangling link, a FIFO, a device
                reading.size_of(given, "data path")
            except UserError as error:
                raise UserError(
                    error.raw_problem, "give text files or directories: {data=}PATH", (*error.keys, "data")
                ) from None
            candidates = [given]
        prepared = sorted(
            {p.parent for p in candidates if p.name == corpus.META and (p.parent / corpus.TRAIN).exists()}
        )
        for folder in prepared:  # an earlier prepare's output inside the data: its meta.json is not text to learn
            warnings.warn(f"skipping {folder}: a prepared corpus", stacklevel=2)
        for path in candidates:
            if path.parent in prepared:
                continue
            first = seen.setdefault(path.resolve(), path)
            if first is not path:
                warnings.warn(f"skipping {path}: the same file as {first}", stacklevel=2)
                continue
            if is_text(path):
                found.append(Source(path, path.stat().st_size))
            else:
                warnings.warn(f"skipping {path}: not a UTF-8 text file", stacklevel=2)
    if not found:
        raise UserError(
            f"no UTF-8 text files in {', '.join(map(str, paths))}",
            "give text files or directories: {data=}PATH",
            "data",
        )
    if not any(s.size for s in found):
        raise UserError("every text file given is empty", "give some training text")
    return found


def sample(sources, total: int, size: int = SAMPLE_BYTES):
    """Text chunks for the tokenizer: everything, or `size` bytes in evenly spaced BLOCKs."""
    if total <= size:
        for source in sources:
            yield from _blocks(source)
        return
    pieces = size // BLOCK
    starts = [round(i * total / pieces) for i in range(pieces)]
    offset = 0
    for source in sources:
        mine = [s - offset for s in starts if offset <= s < offset + source.size]
        offset += source.size
        with _reading(source.path), open(source.path, "rb") as f:
            for start in mine:
                f.seek(start)
                yield f.read(BLOCK).decode("utf-8", errors="ignore")  # a piece may cut a character at each end


def _blocks(source: Source, digest=None):
    """The text of a file a block at a time, each ending after a newline when it has one (so
    that a word is not cut in two tokens); a file that is not UTF-8 after all is a UserError."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    carried, position = "", 0
    with _reading(source.path):  # around the reads only: what the consumer raises is not thrown in here
        for raw in itertools.chain(reading.chunks(source.path, BLOCK), [b""]):  # b"": the end, flushing the decoder
            if digest is not None:
                digest.update(raw)
            try:
                block = carried + decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as error:
                raise UserError(
                    f"data file {source.path} is not UTF-8 (at byte {position + error.start})",
                    "convert it, e.g. iconv -t UTF-8 FILE > FILE.utf8, or leave it out",
                ) from None
            position += len(raw)
            end = block.rfind("\n") + 1 if raw else len(block)
            block, carried = (block[:end], block[end:]) if end else (block, "")
            if block:
                yield block


def _split_at(raw_text: str, byte_cut: int) -> tuple[str, str]:
    """text cut after byte_cut bytes of its UTF-8 (moved forward to a character boundary)."""
    raw = raw_text.encode("utf-8")
    while byte_cut < len(raw) and raw[byte_cut] & 0xC0 == 0x80:
        byte_cut += 1
    return raw[:byte_cut].decode("utf-8"), raw[byte_cut:].decode("utf-8")


class _Writer:
    """Appends the ids of blocks of text to one .bin file and counts tokens and bytes."""

    def __init__(self, path: Path, dtype: str):
        self.file, self.dtype, self.tokens, self.bytes = open(path, "wb"), np.dtype(dtype), 0, 0

    def write(self, tokenizer, piece: str):
        ids = tokenizer.encode(piece)
        if len(ids) and ids.max() > np.iinfo(self.dtype).max:
            raise UserError(
                f"the vocabulary outgrew {self.dtype.name} while encoding",
                "prepare with {c_tokenizer=}bpe",
                "c_tokenizer",
            )
        self.file.write(ids.astype(self.dtype))  # not tofile: its failure names no reason (a full disk)
        self.tokens += len(ids)
        self.bytes += len(piece.encode("utf-8"))


def prepare(data, out, overrides=(), quiet: bool = True, log=None) -> dict:
    """Prepare the text files and directories `data` into the directory `out`; returns meta.json."""
    say = log or (lambda line: None)
    data = [data] if isinstance(data, (str, os.PathLike)) else data  # one path, or a list of them
    if not isinstance(data, (list, tuple)):
        raise UserError(
            f"{{data}} must be a path or a list of paths, got {shown(data)}", "for example {data=}['books/']", "data"
        )
    data = [arguments.given_path(path, "data", "books/") for path in data]
    given = with_overrides({}, overrides)
    config = resolve.config(given)
    options = _tokenizer_options(config)  # a tokenizer that is not installed, or bad options: before any file
    stray = sorted(set(given) - {"c_tokenizer", *options})
    if stray:  # n_ctx, lr, ...: valid config keys, but nothing prepare does depends on them
        raise UserError(
            "prepare takes only c_tokenizer and its options "
            f"({', '.join(options) or 'none for ' + config.c_tokenizer}), "
            f"not {', '.join(stray)}",
            "give training keys to train --data DIR",
        )
    out = arguments.given_path(out, "out", "prepared/")
    if os.path.lexists(out):  # lexists: a dangling link there would make the final rename fail
        raise UserError(f"{{out=}}{out} exists", "give a new directory (prepare never overwrites)", "out")
    sources = list_sources(data)
    total = sum(s.size for s in sources)
    sampled = total > SAMPLE_BYTES
    trained_on = (
        f"a sample of {SAMPLE_BYTES} bytes in {SAMPLE_BYTES // BLOCK} evenly spaced pieces"
        if sampled
        else f"all {total} bytes"
    )
    try:
        try:  # before the tokenizer's training: an out that cannot be written is said at once
            temporary = _temporary_beside(out)
        except OSError as error:
            raise atomic.WriteError(out, error, kept="nothing was written") from None
        say(f"{len(sources)} text files, {total:,} bytes; training the {config.c_tokenizer} tokenizer on {trained_on}")
        tokenizer = tokenizers.train(config, sample(sources, total), min(total, SAMPLE_BYTES), quiet)
        tokenizer, meta = _encode(sources, total, tokenizer, temporary, sampled, quiet)
        meta.update(tokenizer_trained_on=trained_on, tokenizer_options=options)
        atomic.write_json(temporary / corpus.META, meta)
        temporary.chmod(0o777 & ~atomic.current_umask())  # mkdtemp makes 0700; the corpus is an ordinary directory
        _move_into_place(temporary, out)
    except OSError as error:  # a full disk, a file too large, out appearing meanwhile (reads are UserErrors already)
        _remove_own_temporaries(out)
        raise atomic.WriteError(out, error, kept="nothing was written") from None
    except BaseException:  # Ctrl-C or a scheduler's signal, even one landing as the temporary was being made
        _remove_own_temporaries(out)
        raise
    return meta


def _move_into_place(temporary: Path, out: Path):
    """Rename the finished temporary to out, unless out appeared while this prepare ran (another
    prepare of the same out finished first): the rename would fail with "Directory not empty", or
    quietly replace an empty directory."""
    appeared = UserError(
        f"{{out=}}{out} appeared while this prepare ran (another prepare wrote it?)",
        "give a new directory (prepare never overwrites); nothing was written",
        "out",
    )
    if os.path.lexists(out):
        raise appeared
    try:
        temporary.rename(out)
    except OSError:
        if os.path.lexists(out):
            raise appeared from None
        raise


def _remove_own_temporaries(out: Path):
    """Remove the temporaries this process made beside out (by their name, which carries its pid):
    found by name, so a signal between mkdtemp and the assignment of its result leaves none either."""
    for own in out.parent.glob(f"{glob.escape(atomic.temporary_prefix(out.name))}*.tmp"):
        shutil.rmtree(own, ignore_errors=True)


def _temporary_beside(out: Path) -> Path:
    """An empty folder to write into, beside out and named after this process (atomic.temporary_prefix),
    after removing those a killed prepare of the same out left (its pid is dead)."""
    atomic.make_parents(out)
    for leftover in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        if processes.is_leftover(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=out.parent, prefix=atomic.temporary_prefix(out.name), suffix=".tmp"))


def _tokenizer_options(config) -> dict:
    options = block_options(config, config.chosen("tokenizer"))
    return converter.unstructure(options) if options is not None else {}


def _encode(sources, total, tokenizer, folder: Path, sampled: bool, quiet: bool):
    dtype = corpus.dtype_for(tokenizer.vocab_size)
    cut = int(batches.TRAIN_FRACTION * total)  # in bytes of the concatenated sources
    writers = {"train": _Writer(folder / corpus.TRAIN, dtype), "val": _Writer(folder / corpus.VAL, dtype)}
    listed, offset = [], 0
    with (
        contextlib.ExitStack() as stack,
        tqdm(total=total, disable=quiet, unit="B", unit_scale=True, desc="prepare") as bar,
    ):
        for writer in writers.values():
            stack.callback(writer.file.close)
        for source in sources:
            digest = hashlib.sha256()
            for block in _blocks(source, digest):
                raw_length = len(block.encode("utf-8"))
                if sampled:
                    tokenizer = tokenizer.extend(block)
                if offset < cut < offset + raw_length:
                    before, after = _split_at(block, cut - offset)
                    writers["train"].write(tokenizer, before)
                    writers["val"].write(tokenizer, after)
                else:
                    writers["train" if offset < cut else "val"].write(tokenizer, block)
                offset += raw_length
                bar.update(raw_length)
            listed.append({"path": str(source.path.resolve()), "bytes": source.size, "sha256": digest.hexdigest()})
    meta = {
        "format": corpus.FORMAT,
        "tokenizer": tokenizers.to_file(tokenizer),
        "dtype": dtype,
        "splits": {name: {"tokens": w.tokens, "bytes": w.bytes} for name, w in writers.items()},
        "split_rule": f"sources concatenated in the order listed; the first {batches.TRAIN_FRACTION:.0%} of "
        "the bytes train, the rest validate",
        "sources": listed,
    }
    return tokenizer, meta
