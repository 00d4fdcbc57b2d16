"""Training text as a user gives it: a UTF-8 file, a pipe with a writer, or the shipped tiny Shakespeare."""

import importlib.resources

from littlebaby.errors import UserError
from littlebaby.system import memory, reading


def read_text(path) -> str:
    """A UTF-8 text file or a pipe with a writer, or a one-line UserError (missing, another
    kind of file, too large for this machine, empty, binary, not UTF-8)."""
    fix = f"train on less text: it takes about {memory.BYTES_PER_CHARACTER} bytes of memory per character"
    return decode_text(reading.read_bytes(path, "data file", memory.data_limit(), fix, pipes=True), str(path))


def decode_text(raw: bytes, name: str) -> str:
    if not raw.strip():
        raise UserError(f"data file {name} is empty", "give a text file with some training text")
    if b"\x00" in raw:
        raise UserError(f"data file {name} looks binary (it contains NUL bytes)", "give a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"data file {name} is not UTF-8 (byte {raw[error.start]:#04x} at offset {error.start})",
            "convert it, e.g. iconv -t UTF-8 FILE > FILE.utf8",
        ) from None


def shipped_text(name: str = "shakespeare") -> str:
    """A text shipped inside the package (littlebaby/data/<name>.txt): tiny Shakespeare."""
    resource = importlib.resources.files("littlebaby.data").joinpath(f"{name}.txt")
    if not name.isidentifier() or not resource.is_file():  # a name, never a path
        raise UserError(f"no shipped text {name!r} in this littlebaby", "install the version that trained the run")
    return resource.read_text(encoding="utf-8")
