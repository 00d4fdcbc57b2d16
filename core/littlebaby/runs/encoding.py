"""prepare's encoding: batches of text encoded on worker processes, their ids handed back in the order sent, so
the prepared files are the same whatever the number of workers.

Workers are spawned interpreters (a fork would copy this process's threads) that read the tokenizer file once.
Only plain data crosses: texts out, NumPy arrays of the corpus dtype back, a failure as its message's strings.
A worker ignores SIGINT (a terminal's Ctrl-C reaches every process of the group): this process stops them. At
most two batches per worker are in flight, so memory stays flat whatever the corpus size.
"""

import collections
import contextlib
import json
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.text import tokenizer as tokenizers

IN_FLIGHT = 2  # batches sent per worker before this process waits for the oldest


def in_dtype(ids: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if len(ids) and ids.max() > np.iinfo(dtype).max:
        raise UserError(
            f"the vocabulary outgrew {dtype.name} while encoding", "prepare with {c_tokenizer=}bpe", "c_tokenizer"
        )
    return ids.astype(dtype)


class Encoder:
    """Batches of texts in, the ids of each text (in dtype) out, oldest batch first: on `workers` processes, or
    in this one when workers is 1 (or None: a tokenizer whose vocabulary grows as prepare reads, each batch
    encoded by the tokenizer as extended so far)."""

    def __init__(self, tokenizer, dtype, workers: int | None):
        self.dtype, self.sent, self.pool = np.dtype(dtype), collections.deque(), None
        if workers and workers > 1:
            tokenizer_file = json.dumps(tokenizers.to_file(tokenizer))
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(tokenizer_file, self.dtype.str),
            )
        self.limit = IN_FLIGHT * workers if self.pool else 0

    def send(self, texts: list, tokenizer) -> list[list[np.ndarray]]:
        """Encode a batch; returns the batches finished meanwhile, oldest first."""
        if self.pool:
            with _broken():
                self.sent.append(self.pool.submit(_encode, texts))
        else:
            self.sent.append([in_dtype(ids, self.dtype) for ids in tokenizer.encode_batch(texts)])
        return [self._result(self.sent.popleft()) for _ in range(len(self.sent) - self.limit)]

    def rest(self) -> list[list[np.ndarray]]:
        return [self._result(self.sent.popleft()) for _ in range(len(self.sent))]

    def _result(self, sent) -> list[np.ndarray]:
        if not self.pool:
            return sent
        with _broken():
            ids, failed = sent.result()
        if failed:
            raise UserError(*failed)
        return ids

    def close(self):
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


@contextlib.contextmanager
def _broken():
    """A worker killed (out of memory, a signal) breaks the pool: its batch is lost, and prepare ends."""
    try:
        yield
    except BrokenProcessPool:
        raise UserError(
            "a process encoding for prepare ended abruptly (killed? out of memory? or a script calling prepare at "
            "its top level, not under if __name__ == '__main__':, which a spawned process runs again)",
            "prepare again, with {threads=}1 to encode in one process",
            "threads",
        ) from None


_worker = {}  # a worker process's tokenizer and dtype, or the failure that left it without one


def _start(tokenizer_file: str, dtype: str):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["RAYON_NUM_THREADS"] = "1"  # the workers are the parallelism: one thread each (the threads key)
    try:
        _worker.update(tokenizer=resolve.tokenizer(json.loads(tokenizer_file), "prepare's tokenizer"))
    except Exception as error:
        _worker.update(failed=_failure(error))
    _worker.update(dtype=np.dtype(dtype))


def _encode(texts: list) -> tuple[list[np.ndarray], tuple | None]:
    """(the ids of each text, None), or ([], the UserError's problem, fix and keys): plain data only."""
    if "failed" in _worker:
        return [], _worker["failed"]
    try:
        return [in_dtype(ids, _worker["dtype"]) for ids in _worker["tokenizer"].encode_batch(texts)], None
    except Exception as error:
        return [], _failure(error)


def _failure(error: Exception) -> tuple:
    if isinstance(error, UserError):
        return error.raw_problem, error.raw_fix, error.keys
    return (
        f"a process encoding for prepare failed ({type(error).__name__}: {error})",
        "prepare again, with {threads=}1 to encode in one process",
        ("threads",),
    )
