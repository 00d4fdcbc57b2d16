"""Whether the writer of a file is still alive: a process on this machine, or a temporary it left behind."""

import os
import re
import time
from pathlib import Path

WRITER_PID = re.compile(r"\.(\d+)\.[a-z0-9_]+\.tmp$")  # .<name>.<pid>.<random>.tmp, a file or a folder
LEFTOVER_SECONDS = 60.0  # a temporary that names no writer (older versions) is a leftover once this old


def process_alive(pid: int) -> bool:
    """Whether process pid runs on this machine (0 and negative numbers name groups, not a process)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
        return False
    try:
        os.kill(pid, 0)
    except OSError as error:
        return isinstance(error, PermissionError)  # someone else's process
    return True


def is_leftover(path: Path) -> bool:
    """A temporary of a writer that is gone: its pid is dead, or it names none and is old."""
    if not (path.name.startswith(".") and path.name.endswith(".tmp")):
        return False
    match = WRITER_PID.search(path.name)
    if match is not None:
        return int(match.group(1)) != os.getpid() and not process_alive(int(match.group(1)))
    try:
        return time.time() - path.lstat().st_mtime > LEFTOVER_SECONDS
    except OSError:
        return False
