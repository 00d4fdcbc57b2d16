"""Reading any file a user or a run hands us: regular files only, bounded sizes, strict JSON.

Every input (training text, config, tokenizer, report, the original notebook's
files) goes through `read_bytes`, which refuses what is not a regular file
BEFORE opening it: opening a FIFO with no writer blocks forever, and /dev/zero
or /dev/urandom never end. The type is checked again on the open descriptor
(opened non-blocking), so a path swapped in between cannot hang us either.
Training text may also come from a pipe that has a writer (`<(zcat text.gz)`).
Reading stops one byte past the limit, so a file larger than it costs no more
than the limit in memory.

JSON is strict: NaN, Infinity and numbers that overflow a float are refused
(strict readers elsewhere reject them, and a NaN learning rate trains nothing),
as is nesting deep enough to exhaust Python's recursion limit.
"""

import contextlib
import hashlib
import json
import math
import os
import select
import stat

from littlebaby.errors import UserError, describe_bytes, shown

JSON_LIMIT = 16 << 20  # config, tokenizer and metadata JSON: far above any real one
CHUNK = 1 << 20  # bytes read at a time from a file streamed through (hashed, encoded)

_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


# the same words for a path the user gave and for one of a run's own files, which nobody typed
NOT_A_FILE_FIX = "give the path of a regular file, or restore it if it is one of a run's files"


def kind(mode: int) -> str:
    """What a file of this mode is, for a message: 'a directory', 'a FIFO (named pipe)', ..."""
    return next((name for test, name in _KINDS.items() if test(mode)), "not a regular file")


def size_of(path, what: str) -> int:
    """The size of a regular file, or a one-line UserError (missing, dangling link, directory, device, FIFO)."""
    try:
        info = os.stat(path)  # follows symlinks; never opens, so a FIFO cannot block us here
    except FileNotFoundError:
        dangling = os.path.islink(path)
        problem = f"{what} {path} is a symbolic link to a missing file" if dangling else f"{what} {path} not found"
        raise UserError(problem, "check the path") from None
    except OSError as error:
        raise UserError(f"cannot read {what} {path} ({error.strerror})", "check the path and its permissions") from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{what} {path} is {kind(info.st_mode)}, not a regular file", NOT_A_FILE_FIX)
    return info.st_size


def _too_large(what: str, path, size: int, limit: int, fix: str) -> UserError:
    return UserError(f"{what} {path} is {describe_bytes(size)}, more than the {describe_bytes(limit)} it may be", fix)


def _is_pipe(path) -> bool:
    with contextlib.suppress(OSError):
        return stat.S_ISFIFO(os.stat(path).st_mode)
    return False


def read_bytes(path, what: str, limit: int, fix: str = "is it the right file?", pipes: bool = False) -> bytes:
    """The whole content of a regular file of at most `limit` bytes, or a one-line UserError
    (`fix` says what to do about a file over the limit).

    pipes: also read a pipe whose writer is there (`--data <(zcat text.gz)`); a FIFO with
    no writer reads as end-of-file at once in non-blocking mode, so it is refused, never waited on.
    """
    pipe = pipes and hasattr(os, "O_NONBLOCK") and _is_pipe(path)
    size = 0 if pipe else size_of(path, what)
    if size > limit:
        raise _too_large(what, path, size, limit, fix)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise UserError(f"cannot read {what} {path} ({error.strerror})", "check the path and its permissions") from None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or pipe and stat.S_ISFIFO(mode)):  # replaced since the stat above
            raise UserError(f"{what} {path} is {kind(mode)}, not a regular file", NOT_A_FILE_FIX)
        chunks, total = [], 0
        while total <= limit:  # a file may grow after the stat: read at most one byte past the limit
            try:
                chunk = os.read(fd, min(1 << 24, limit + 1 - total))
            except BlockingIOError:  # a pipe's writer has not written yet: wait for it
                select.select([fd], [], [])
                continue
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as error:
        raise UserError(f"cannot read {what} {path} ({error.strerror})", "check the file") from None
    finally:
        os.close(fd)
    if total > limit:
        raise _too_large(what, path, total, limit, fix)
    if pipe and not total:
        raise UserError(
            f"{what} {path} is a FIFO with no writer (or one that wrote nothing)",
            "start its writer first, or give a file",
        )
    return b"".join(chunks)


def chunks(path, size: int = CHUNK):
    """A file's bytes `size` at a time, so that a file of any length is read in bounded memory."""
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(size), b"")


def sha256(content) -> str:
    """Hex sha256 of bytes in memory, or of an iterable of byte chunks: a file's `chunks(path)`."""
    digest = hashlib.sha256()
    for chunk in [content] if isinstance(content, (bytes, bytearray, memoryview)) else content:
        digest.update(chunk)
    return digest.hexdigest()


# -- strict JSON ------------------------------------------------------------------------
def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is too large for a float")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs) -> dict:
    """An object whose keys are each given once: a hand-written config with "lr" twice would
    otherwise take the last without a word."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {shown(key)} is given twice")
        seen[key] = value
    return seen


def loads(text: str | bytes, what: str, unique_keys: bool = False):
    """Parse strict JSON (no NaN, Infinity, overflowing numbers; with unique_keys, no key twice in
    an object), or a one-line UserError naming `what`."""
    try:
        return json.loads(
            text,
            parse_float=_finite,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys if unique_keys else None,
        )
    except RecursionError:
        raise UserError(
            f"{what} is nested too deeply to be a JSON file littlebaby writes", "is it the right file?"
        ) from None
    except UnicodeDecodeError as error:
        raise UserError(f"{what} is not UTF-8 text (byte offset {error.start})", "is it the right file?") from None
    except ValueError as error:  # JSONDecodeError is a ValueError
        raise UserError(f"{what} is not valid JSON ({error})", "fix or restore the file") from None


def safetensors_header(handle, what: str, limit: int, fix: str) -> tuple[dict, int]:
    """The JSON header of the safetensors file open in `handle` (at its start) and the offset its tensors start
    at. The header's 8-byte length is checked against `limit` and the file's size before the header is read."""
    size = os.fstat(handle.fileno()).st_size
    head = handle.read(8)
    length = int.from_bytes(head, "little") if len(head) == 8 else -1
    if length > limit:
        raise UserError(f"{what} declares a header of {describe_bytes(length)}, more than any real one holds", fix)
    if not 2 <= length <= size - 8:
        raise UserError(f"{what} is corrupt or truncated, or not a safetensors file (header length {length})", fix)
    header = loads(handle.read(length), f"header of {what}")
    if not isinstance(header, dict):
        raise UserError(f"{what} has a header that is not a JSON object", fix)
    return header, 8 + length


def read_json(path, what: str, limit: int = JSON_LIMIT, fix: str = "is it the right file?", unique_keys: bool = False):
    """A JSON file (regular, at most `limit` bytes, strict JSON), or a one-line UserError (`fix`: over the limit)."""
    return loads(read_bytes(path, what, limit, fix), f"{what} {path}", unique_keys)
