"""The machine's side of memory: how much this process may still allocate, and refusing what will not fit.

A config may ask for more than any machine holds (n_emb=10**9, batch_size=10**9); allocating first would
hang, then die of MemoryError or the OOM killer with files already written. What a model or a batch needs
is estimated before allocating (nn/sizes.py) and checked here with `require`. The available memory is
MemAvailable from /proc/meminfo, capped by a cgroup v2 limit; where neither can be read nothing is refused.
"""

import os
from pathlib import Path

from littlebaby.errors import UserError, describe_bytes

DATA_LIMIT = 4 << 30  # bytes of training text read into memory, at most
BYTES_PER_CHARACTER = 10  # text in memory: the file's bytes, the str, and an int64 id per character
# a generated token until its text is saved: its id in a list, the id's int, the decoded text (a
# byte-pair token is several characters, a character up to 4 bytes)
BYTES_PER_GENERATED_TOKEN = 64


def available(meminfo="/proc/meminfo", cgroup="/sys/fs/cgroup") -> int | None:
    """Bytes this process can still allocate, or None when the system does not say."""
    found = []
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:  # a container's own limit (cgroup v2), which MemAvailable does not see
        cgroup = Path(cgroup)
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int((cgroup / "memory.current").read_text()) + _reclaimable(cgroup))
    except (OSError, ValueError):
        pass
    if not found:
        try:  # other Unixes: free physical pages
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return None
    return max(0, min(found))


def _reclaimable(cgroup: Path) -> int:
    """Cached file pages the kernel drops before refusing memory: counted in memory.current (which
    can even exceed memory.max with them), free for the asking."""
    try:
        for line in (cgroup / "memory.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "inactive_file":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


# json.loads of '[[],[],...': an empty list (56 bytes) and its slot for every 3 bytes of text; numbers
# ('0.5,') cost 32 bytes per 4: a JSON file is refused when 24 times its size does not fit
JSON_BYTES_PER_BYTE = 24


JSON_FIX = (
    f"parsing JSON takes up to {JSON_BYTES_PER_BYTE} times its size in memory; free some, or use a larger machine"
)


def json_limit(cap: int = DATA_LIMIT) -> int:
    """The largest JSON file parsed whole (the original notebook's model file, a run's report):
    cap, or less on a small machine."""
    room = available()
    return cap if room is None else min(cap, room // JSON_BYTES_PER_BYTE)


def data_limit() -> int:
    """The largest training text read into memory: DATA_LIMIT, or less on a small machine."""
    room = available()
    return DATA_LIMIT if room is None else min(DATA_LIMIT, room // BYTES_PER_CHARACTER)


def require(parts: list, what: str, fix: str | None = None):
    """A one-line UserError when the parts (what, bytes, the keys that shrink it) need more than is available;
    the fix names the keys that shrink the largest part, or is `fix` when no key does."""
    room = available()
    needed = sum(part[1] for part in parts)
    if room is None or needed <= room:
        return
    keys = max(parts, key=lambda part: part[1])[2]  # the settings that shrink the largest part
    if keys:
        fix = "lower " + ", ".join("{" + k + "}" for k in keys[:-1]) + (" or " if len(keys) > 1 else "")
        fix += "{" + keys[-1] + "}"
    details = "; ".join(f"{name}: {describe_bytes(value)}" for name, value, _ in parts)
    raise UserError(
        f"{what} needs about {describe_bytes(needed)} of memory ({details}), "
        f"but this machine has {describe_bytes(room)} available",
        fix,
        keys,
    )
