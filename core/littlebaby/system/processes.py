"""Whether the writer of a file is still alive: a process on this machine, or a temporary it left behind.

A process is named by its pid and the machine that pid means something on (`machine()`: the host, its boot and
the pid namespace, hashed), so that a trainer in a container or on another node sharing the home is never
judged dead because no process of its pid runs here.
"""

import functools
import hashlib
import os
import re
import socket
import time
from pathlib import Path

# .<name>.<pid>-<machine>.<random>.tmp (older versions: .<name>.<pid>.<random>.tmp), a file or a folder
WRITER = re.compile(r"\.(\d+)(?:-([0-9a-f]{12}))?\.[a-z0-9_]+\.tmp$")
LEFTOVER_SECONDS = 60.0  # a temporary that names no writer (older versions) is a leftover once this old
# a temporary of a writer on another machine cannot be checked: it is a leftover only once older than any write
FOREIGN_SECONDS = 24 * 3600.0


@functools.cache
def machine() -> str:
    """What a pid is a pid on: this host, since its last boot, in this pid namespace."""
    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(Path(source).read_text().strip() if "boot" in source else os.readlink(source))
        except OSError:
            parts.append("?")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def process_alive(pid: int) -> bool:
    """Whether process pid runs on this machine (0 and negative numbers name groups, not a process)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
        return False
    try:
        os.kill(pid, 0)
    except OSError as error:
        return isinstance(error, PermissionError)  # someone else's process
    return True


def writer_alive(pid, where) -> bool:
    """Whether the process pid of machine `where` (None: a record of an older version, this machine) may still run."""
    if where is not None and where != machine():
        return True  # another host, boot or container: nothing here can tell, so it is never declared dead
    return process_alive(pid)


def is_leftover(path: Path) -> bool:
    """A temporary of a writer that is gone: its pid is dead here, or it names none (or another machine) and is old."""
    if not (path.name.startswith(".") and path.name.endswith(".tmp")):
        return False
    match = WRITER.search(path.name)
    if match is not None and (match.group(2) is None or match.group(2) == machine()):
        return int(match.group(1)) != os.getpid() and not process_alive(int(match.group(1)))
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return age > (LEFTOVER_SECONDS if match is None else FOREIGN_SECONDS)
