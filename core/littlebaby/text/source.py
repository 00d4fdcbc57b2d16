"""Training text as a user gives it: one UTF-8 file (or a pipe with a writer, or the shipped tiny Shakespeare)
read into memory, or the text files of several files and folders streamed a block at a time (`prepare`)."""

import codecs
import contextlib
import importlib.resources
import itertools
import warnings
from pathlib import Path

import attrs

from littlebaby.errors import UserError
from littlebaby.system import memory, reading
from littlebaby.text import corpus


def read_text(path) -> str:
    """A UTF-8 text file or a pipe with a writer, or a one-line UserError (missing, another
    kind of file, too large for this machine, empty, binary, not UTF-8)."""
    fix = f"train on less text: it takes about {memory.BYTES_PER_CHARACTER} bytes of memory per character"
    return decode_text(reading.read_bytes(path, "data file", memory.data_limit(), fix, pipes=True), str(path))


def decode_text(raw: bytes, name: str) -> str:
    if not raw:
        raise UserError(f"data file {name} is empty", "give a text file with some training text")
    if not raw.strip():  # spaces, tabs, line ends (CRLF too): text, but nothing to learn from
        raise UserError(f"data file {name} holds only whitespace", "give a text file with some training text")
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


# -- many files, streamed ----------------------------------------------------------------------
BLOCK = 1 << 20  # bytes read, decoded and encoded at a time
SAMPLE_BYTES = 64 << 20  # a tokenizer learns from at most this much text
SNIFF = 1 << 16  # bytes looked at to tell a text file from another file
CARRY = 16 << 20  # characters a block may grow to while no place to cut it is found


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
            yield from blocks(source)
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


def after_newline(text: str) -> int:
    return text.rfind("\n") + 1


def blocks(source: Source, digest=None, cut=after_newline):
    """The text of a file a block at a time, each ending where `cut(text)` says no token is cut in two (a
    tokenizer's cut: after the last newline by default). Text with no such place is carried into the next
    block, up to CARRY bytes, then cut where it stands; a file that is not UTF-8 after all is a UserError."""
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
            if "\x00" in block:  # as train refuses one, wherever it is (the sniff saw only the first 64 KB)
                raise UserError(
                    f"data file {source.path} looks binary (it contains NUL bytes)",
                    "give UTF-8 text files, or leave it out",
                )
            position += len(raw)
            end = cut(block) if raw else len(block)
            if not end and len(block) < CARRY:
                carried = block
                continue
            block, carried = block[: end or len(block)], block[end or len(block) :]
            if block:
                yield block
