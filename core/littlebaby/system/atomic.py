"""Writing files so that a crash never leaves half of one: a temporary beside the target, fsync, rename.

A temporary is named `.<name>.<pid>.<random>.tmp`, so a later command can tell a dead writer's leftovers
(processes.py). A write that fails (a full disk, a read-only file system, no permission, a directory where
the file should go) leaves the previous file as it was and is a one-line `WriteError`.
"""

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path

from littlebaby.errors import UserError
from littlebaby.system import processes, reading


class WriteError(UserError):
    """A write the system refused (full disk, read-only, no permission, a directory in the way)."""

    def __init__(self, path, error: OSError, kept: str = "any earlier version of the file is unchanged"):
        self.path, self.reason = path, error.strerror or str(error) or type(error).__name__
        fix = (
            "free some disk space"
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            else "choose a writable path"
        )
        super().__init__(f"cannot write {path} ({self.reason})", f"{fix}; {kept}")


def write_bytes(path, data: bytes):
    """Write data to path atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    try:
        _write_atomically(path, data)
    except OSError as error:
        raise WriteError(path, error) from None


def check_replaceable(path, kept: str = "nothing was written"):
    """A one-line WriteError now (before a run trains, say) if a file cannot be written at path later."""
    try:
        _refuse_non_file(Path(path))
    except OSError as error:
        raise WriteError(path, error, kept) from None


def _refuse_non_file(path: Path):
    if path.is_dir():  # named: rename would report only "Is a directory"
        raise IsADirectoryError(21, "it is a directory")
    try:
        mode = os.stat(path).st_mode
    except OSError:  # nothing there yet (or nothing stat can see): the write says what is wrong
        return
    if not stat.S_ISREG(mode):  # the rename would put a file in place of a device or a FIFO (as root, /dev/null's)
        raise OSError(errno.EINVAL, f"it is {reading.kind(mode)}, not a regular file")


def _write_atomically(path: Path, data: bytes):
    _refuse_non_file(path)
    make_parents(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; a run's files are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def make_parents(path: Path):
    """Create the folders path goes in, naming a file in the way (mkdir says only "File exists")."""
    blocking = next((folder for folder in path.parents if folder.exists() and not folder.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(20, f"{blocking} is a file, not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def temporary_prefix(name: str) -> str:
    """Names of temporaries carry the writer's pid and machine, so a later command can tell a dead writer's."""
    return f".{name}.{os.getpid()}-{processes.machine()}."


def reserve(path) -> bool:
    """Create path empty if nobody has (O_CREAT | O_EXCL: one winner among concurrent callers)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    return True


def write_text(path, text: str):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, data):
    """Standard JSON only: NaN or infinity is a ValueError, as every reader (reading.read_json) refuses them."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
