"""prepare's encoding: batches of text encoded on worker processes, their ids handed back in the order sent, so
the prepared files are the same whatever the number of workers.

A worker is this module run as its own interpreter (`python -m littlebaby.runs.encoding`: it imports nothing of
the caller's script, and no thread of this process is copied into it). It reads the tokenizer file once, then
answers batches over its stdin and stdout in frames of plain bytes, nothing pickled: a batch is the texts'
UTF-8 lengths and bytes; an answer is the ids' counts and bytes in the corpus dtype, or a failure as JSON
(problem, fix, keys). Each worker holds one batch at a time, so memory stays flat whatever the corpus size. A
worker ignores SIGINT (a terminal's Ctrl-C reaches every process of the group): this process stops them.
"""

import collections
import json
import os
import signal
import struct
import subprocess
import sys

import numpy as np

from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.text import tokenizer as tokenizers


def abrupt() -> UserError:
    return UserError(
        "a process encoding for prepare ended abruptly (killed? out of memory?)",
        "prepare again, with {threads=}1 to encode in one process",
        "threads",
    )


def in_dtype(ids: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if len(ids) and ids.max() > np.iinfo(dtype).max:
        raise UserError(
            f"the vocabulary outgrew {dtype.name} while encoding", "prepare with {c_tokenizer=}bpe", "c_tokenizer"
        )
    return ids.astype(dtype)


# -- frames: an 8-byte little-endian length, then that many bytes ------------------------------------------------
def _write(stream, data: bytes):
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _read(stream) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    size = struct.unpack("<Q", head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _pack(parts: list) -> bytes:
    """Arrays (of one dtype) or bytes, as their count, their lengths (uint64) and their bytes one after the other."""
    lengths = np.array([len(part) for part in parts], dtype="<u8")
    data = (part if isinstance(part, bytes) else part.tobytes() for part in parts)
    return struct.pack("<Q", len(parts)) + lengths.tobytes() + b"".join(data)


def _unpack(data, dtype) -> list:
    count = struct.unpack("<Q", data[:8])[0]
    lengths = np.frombuffer(data, dtype="<u8", count=count, offset=8)
    flat = np.frombuffer(data, dtype=dtype, offset=8 + 8 * count)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return [flat[bounds[i] : bounds[i + 1]] for i in range(count)]


class Encoder:
    """Batches of texts in, the ids of each text (in dtype) out, oldest batch first: on `workers` processes, or
    in this one when workers is 1 (or None: a tokenizer whose vocabulary grows as prepare reads, each batch
    encoded by the tokenizer as extended so far)."""

    def __init__(self, tokenizer, dtype, workers: int | None):
        self.dtype, self.sent, self.idle, self.workers = np.dtype(dtype), collections.deque(), [], []
        if workers and workers > 1:
            tokenizer_file = json.dumps(tokenizers.to_file(tokenizer)).encode("utf-8")
            # the workers are the parallelism: the library's pool in each holds one thread (the threads key)
            env = {**os.environ, "RAYON_NUM_THREADS": "1"}
            for _ in range(workers):
                worker = subprocess.Popen(
                    [sys.executable, "-m", "littlebaby.runs.encoding", self.dtype.str],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,  # what goes wrong in a worker comes back as an answer
                    env=env,
                )
                self.workers.append(worker)
                self.idle.append(worker)
                self._to(worker, tokenizer_file)

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self.workers]

    def send(self, texts: list, tokenizer) -> list[list[np.ndarray]]:
        """Encode a batch; returns the batches finished meanwhile, oldest first."""
        if not self.workers:
            return [[in_dtype(ids, self.dtype) for ids in tokenizer.encode_batch(texts)]]
        done = [] if self.idle else [self._result()]  # every worker busy: the oldest answers first
        worker = self.idle.pop()
        self._to(worker, _pack([text.encode("utf-8") for text in texts]))
        self.sent.append(worker)
        return done

    def rest(self) -> list[list[np.ndarray]]:
        return [self._result() for _ in range(len(self.sent))]

    def _to(self, worker, data: bytes):
        try:
            _write(worker.stdin, data)
        except OSError:
            raise abrupt() from None

    def _result(self) -> list[np.ndarray]:
        worker = self.sent.popleft()
        try:
            answer = _read(worker.stdout)
        except (EOFError, OSError):
            raise abrupt() from None
        self.idle.append(worker)
        if answer[:1] == b"!":
            problem, fix, keys = json.loads(answer[1:])
            raise UserError(problem, fix, tuple(keys))
        return _unpack(memoryview(answer)[1:], self.dtype)  # no copy of the batch

    def close(self, stop: bool = False):
        """End the workers: each leaves when its stdin closes; stop (a failure, a signal): at once."""
        for worker in self.workers:
            if stop:
                worker.kill()
            for stream in (worker.stdin, worker.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.workers, self.idle = [], []

    def __enter__(self):
        return self

    def __exit__(self, kind, *exception):
        self.close(stop=kind is not None)


def _failure(error: Exception) -> bytes:
    if isinstance(error, UserError):
        said = [error.raw_problem, error.raw_fix, list(error.keys)]
    else:
        said = [
            f"a process encoding for prepare failed ({type(error).__name__}: {error})",
            "prepare again, with {threads=}1 to encode in one process",
            ["threads"],
        ]
    return b"!" + json.dumps(said).encode("utf-8")


def _serve(dtype: np.dtype):
    """A worker: the tokenizer file, then batches until its stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    given, answers = sys.stdin.buffer, sys.stdout.buffer
    try:
        tokenizer, failed = resolve.tokenizer(json.loads(_read(given)), "prepare's tokenizer"), None
    except EOFError:
        return
    except Exception as error:
        tokenizer, failed = None, _failure(error)
    while True:
        try:
            batch = _read(given)
        except EOFError:
            return
        answer = failed
        if answer is None:
            try:
                texts = [bytes(text).decode("utf-8") for text in _unpack(batch, np.uint8)]
                answer = b"=" + _pack([in_dtype(ids, dtype) for ids in tokenizer.encode_batch(texts)])
            except Exception as error:
                answer = _failure(error)
        try:
            _write(answers, answer)
        except OSError:  # prepare stopped and closed the pipe: nothing is waiting for this answer
            return


if __name__ == "__main__":
    _serve(np.dtype(sys.argv[1]))
