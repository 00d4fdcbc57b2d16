"""`littlebaby prepare`: text files -> a tokenizer and token ids on disk (corpus.py reads them).

It streams: files are read in blocks of BLOCK bytes, each cut where the tokenizer
says no token is cut in two (Tokenizer.cut: the ids are those of the whole text
encoded at once), encoded BATCH bytes at a time (encode_batch; on worker
processes for a tokenizer with a fixed vocabulary, encoding.py) and appended to
train.bin / val.bin in the order read, so memory stays bounded whatever the
corpus size. The
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

import collections
import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from littlebaby.config import block_options, converter
from littlebaby.configs import with_overrides
from littlebaby.errors import UserError, shown
from littlebaby.plugins import resolve
from littlebaby.runs.encoding import Encoder
from littlebaby.system import arguments, atomic, processes
from littlebaby.system import threads as system_threads
from littlebaby.text import batches, corpus
from littlebaby.text import tokenizer as tokenizers
from littlebaby.text.batches import split_at
from littlebaby.text.source import BLOCK, SAMPLE_BYTES, blocks, list_sources, sample


class _Writer:
    """Appends ids to one .bin file and counts tokens and bytes."""

    def __init__(self, path: Path):
        self.file, self.tokens, self.bytes = open(path, "wb"), 0, 0

    def write(self, ids: np.ndarray, size: int):
        self.file.write(ids)  # not tofile: its failure names no reason (a full disk)
        self.tokens += len(ids)
        self.bytes += size


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
    stray = sorted(set(given) - {"c_tokenizer", "threads", *options})
    if stray:  # n_ctx, lr, ...: valid config keys, but nothing prepare does depends on them
        raise UserError(
            "prepare takes only c_tokenizer, threads and the tokenizer's options "
            f"({', '.join(options) or 'none for ' + config.c_tokenizer}), "
            f"not {', '.join(stray)}",
            "give training keys to train --data DIR",
        )
    if config.threads:  # the tokenizers library's pool, made at its first use in this process (0: one per core)
        os.environ["RAYON_NUM_THREADS"] = str(config.threads)
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
        tokenizer, meta = _encode(sources, total, tokenizer, temporary, sampled, quiet, config.threads)
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


BATCH = 8 << 20  # bytes of text encoded together (by one worker process, where there are workers)


def _encode(sources, total, tokenizer, folder: Path, sampled: bool, quiet: bool, threads: int):
    dtype = corpus.dtype_for(tokenizer.vocab_size)
    cut = int(batches.TRAIN_FRACTION * total)  # in bytes of the concatenated sources
    writers = {"train": _Writer(folder / corpus.TRAIN), "val": _Writer(folder / corpus.VAL)}
    listed, offset, pending, sent = [], 0, [], collections.deque()  # pending: (writer, text); sent: (writer, bytes)
    # worker processes for a tokenizer with a fixed vocabulary (char's grows as it reads), when there is enough text
    workers = (threads or system_threads.cores()) if tokenizer.encodes_any_text and total > BATCH else 1

    def write(finished):
        for ids_of_texts in finished:
            for (writer, size), ids in zip(sent.popleft(), ids_of_texts):
                writer.write(ids, size)

    def flush():  # with the tokenizer as extended so far: it gives every earlier id the same meaning
        if pending:
            sent.append([(writer, len(text.encode("utf-8"))) for writer, text in pending])
            write(encoder.send([text for _, text in pending], tokenizer))
        pending.clear()

    with (
        contextlib.ExitStack() as stack,
        tqdm(total=total, disable=quiet, unit="B", unit_scale=True, desc="prepare") as bar,
    ):
        for writer in writers.values():
            stack.callback(writer.file.close)
        encoder = stack.enter_context(Encoder(tokenizer, dtype, workers))
        for source in sources:
            digest = hashlib.sha256()
            for block in blocks(source, digest, tokenizer.cut):
                raw_length = len(block.encode("utf-8"))
                if sampled:
                    tokenizer = tokenizer.extend(block)
                if offset < cut < offset + raw_length:
                    before, after = split_at(block, cut - offset)
                    pending.extend([(writers["train"], before), (writers["val"], after)])
                else:
                    pending.append((writers["train" if offset < cut else "val"], block))
                offset += raw_length
                if sum(len(piece) for _, piece in pending) >= BATCH:
                    flush()
                bar.update(raw_length)
            read = offset - sum(entry["bytes"] for entry in listed)
            if read != source.size:  # the split was cut by the sizes listed: a file that changed moves it
                raise UserError(
                    f"data file {source.path} changed while prepare read it ({source.size} bytes listed, {read} read)",
                    "prepare again once nothing writes to the sources",
                )
            listed.append({"path": str(source.path.resolve()), "bytes": source.size, "sha256": digest.hexdigest()})
        flush()
        write(encoder.rest())
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
