"""A run's checkpoints: one folder per saved step, complete or absent, the newest two intact ones kept.

    checkpoints/<run>/step_000000250/
        model.safetensors       the parameters (checkpoint.py's model file)
        optimizer.safetensors   AdamW's moments and step
        manifest.json           step, training state (dropout generator), report position,
                                and the sha256 of each part

A checkpoint is written into a temporary folder `.step_<N>.<pid>.<random>.tmp`
beside the others, flushed to disk, and renamed into place last: a reader sees
the whole set or nothing, whatever kills the writer (and a killed writer's
temporary folder is removed by the next command, files.Home.clean_leftovers).
Resume takes the newest checkpoint whose manifest agrees with its parts (its
name's step, each part's hash); a broken one is passed over with a warning.

checkpoint.py is the file format of one model or optimizer file; this module
is the set of them that makes a run resumable.
"""

import contextlib
import os
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import attrs

from littlebaby.errors import UserError
from littlebaby.store import weights as checkpoint
from littlebaby.system import atomic, reading

FORMAT = "littlebaby-checkpoint-1"
MANIFEST = "manifest.json"
PARTS = ("model.safetensors", "optimizer.safetensors")
KEEP = 2  # the newest and the one before it: if the newest turns out broken, resume falls back one
STEP_FOLDER = re.compile(r"step_(\d+)")
PAUSE_VARIABLE = "LITTLEBABY_CHECKPOINT_PAUSE"  # tests only: seconds to wait between the parts, to widen the window


class BrokenCheckpoint(Exception):
    """A checkpoint folder whose parts do not agree with its manifest."""


@attrs.frozen
class Checkpoint:
    """A complete, verified checkpoint."""

    path: Path
    step: int | None  # None: an older littlebaby's files, whose step is in the optimizer file
    state: dict | None  # the training state saved with it (training.TrainState as a dict)
    report: dict | None  # the report's position at this step (report.position); None: the report as it is
    model: Path = attrs.field()
    optimizer: Path = attrs.field()

    @model.default
    def _model(self):
        return self.path / PARTS[0]

    @optimizer.default
    def _optimizer(self):
        return self.path / PARTS[1]


def before_checkpoints(model: Path, optimizer: Path) -> Checkpoint:
    """The model and optimizer files an older littlebaby (without checkpoint folders) saved at a stop."""
    return Checkpoint(model.parent, None, None, None, model, optimizer)


def _sync_folder(path: Path):
    """Make a folder's entries (new files, a rename) durable."""
    with contextlib.suppress(OSError):  # some file systems cannot open a folder; the rename is still atomic
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _retire(path: Path):
    """Delete a checkpoint folder so that no moment shows it half deleted: rename it away first."""
    hidden = path.with_name(f"{atomic.temporary_prefix(path.name)}retired.tmp")
    os.rename(path, hidden)
    if hidden.is_symlink() or not hidden.is_dir():  # a file or a link where a folder belongs
        with contextlib.suppress(OSError):
            hidden.unlink()
    shutil.rmtree(hidden, ignore_errors=True)


def write(folder, step: int, model, optimizer, state: dict, report_position: dict) -> Checkpoint:
    """Save a checkpoint of `step` in folder (checkpoints/<run>), then keep only the newest KEEP."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step_{step:09d}"
    if os.path.lexists(final):  # lexists: a dangling link or a symlink loop in its place is retired too
        with contextlib.suppress(BrokenCheckpoint):
            return verify(final)  # this step is saved already (the end fell on an interval)
        _retire(final)
    temporary = Path(tempfile.mkdtemp(dir=folder, prefix=atomic.temporary_prefix(final.name), suffix=".tmp"))
    try:
        os.chmod(temporary, 0o777 & ~atomic.current_umask())  # mkdtemp makes 0700; a checkpoint is an ordinary folder
        # each part's hash is of the bytes as written, so a checkpoint costs one write and no read
        hashes = {PARTS[0]: checkpoint.save_model(temporary / PARTS[0], model)}
        pause = float(os.environ.get(PAUSE_VARIABLE) or 0)
        if pause:
            time.sleep(pause)
        hashes[PARTS[1]] = checkpoint.save_optimizer(temporary / PARTS[1], optimizer, state)
        manifest = {
            "format": FORMAT,
            "run": folder.name,
            "step": step,
            "state": state,
            "report": report_position,
            "parts": hashes,
        }
        atomic.write_json(temporary / MANIFEST, manifest)
        _sync_folder(temporary)
        os.rename(temporary, final)
        _sync_folder(folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _rotate(folder, step)
    return Checkpoint(final, step, state, report_position)


def _rotate(folder: Path, step: int):
    """Keep the KEEP newest intact checkpoints up to `step` (the one just written first) and retire the others
    up to it: a broken folder, or one copied from another run, is never counted among those kept, so it cannot
    push a good one out. Folders past `step` are not this session's to judge (resume passed over them)."""
    kept = 0
    for path in steps(folder):
        if int(STEP_FOLDER.fullmatch(path.name).group(1)) > step:
            continue
        if kept < KEEP:
            try:
                if int(STEP_FOLDER.fullmatch(path.name).group(1)) != step:  # the one just written is intact
                    verify(path)
                kept += 1
                continue
            except BrokenCheckpoint:
                pass
        with contextlib.suppress(OSError):
            _retire(path)


def steps(folder) -> list[Path]:
    """The checkpoint folders of a run, newest first (not yet verified)."""
    found = []
    with contextlib.suppress(OSError):
        for path in Path(folder).iterdir():
            match = STEP_FOLDER.fullmatch(path.name)
            if match and path.is_dir():
                found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def verify(path: Path) -> Checkpoint:
    """The checkpoint in path if its manifest agrees with its name and its parts; else BrokenCheckpoint."""
    try:  # regular files only, bounded, strict JSON (reading.py): a FIFO or a huge manifest is just broken
        manifest = reading.read_json(path / MANIFEST, "checkpoint manifest")
        for part in PARTS:
            reading.size_of(path / part, "checkpoint part")
    except UserError as error:
        raise BrokenCheckpoint(error.problem) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BrokenCheckpoint("its manifest is not a littlebaby checkpoint manifest")
    step, state, parts = manifest.get("step"), manifest.get("state"), manifest.get("parts")
    if (
        step != int(STEP_FOLDER.fullmatch(path.name).group(1))
        or not isinstance(state, dict)
        or state.get("step") != step
    ):
        raise BrokenCheckpoint(f"its manifest says step {step!r}, its folder {path.name}")
    if manifest.get("run", path.parent.name) != path.parent.name:  # copied over from another run (older ones name none)
        raise BrokenCheckpoint(f"it was saved by run {manifest['run']!r}, not {path.parent.name!r}")
    if not isinstance(parts, dict) or set(parts) != set(PARTS):
        raise BrokenCheckpoint("its manifest does not list its parts")
    for part in PARTS:
        try:
            if reading.sha256(reading.chunks(path / part)) != parts[part]:
                raise BrokenCheckpoint(f"{part} is not the file its manifest describes")
        except OSError:
            raise BrokenCheckpoint(f"{part} is missing or unreadable") from None
    report = manifest.get("report")
    if report is not None and not _position(report):
        raise BrokenCheckpoint("its manifest's report position is not counts and seconds")
    return Checkpoint(path, step, state, report or {})


def _position(report) -> bool:
    """Whether report is a report.position (record counts, seconds): resume cuts the report with it."""
    counts = [report.get(key, 0) for key in ("steps", "val")] if isinstance(report, dict) else [None]
    seconds = (
        [report.get(key, 0.0) for key in ("train_seconds", "wall_seconds")] if isinstance(report, dict) else [None]
    )
    return all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < float("inf") for x in seconds
    )


def newest(folder) -> Checkpoint | None:
    """The newest complete checkpoint of a run; a broken newer one is passed over with a warning
    (none when every one is broken: the caller's error says so, with `why_broken`, in one line)."""
    passed_over = []
    for path in steps(folder):
        try:
            saved = verify(path)
        except BrokenCheckpoint as error:
            passed_over.append(f"checkpoint {path} is broken ({error}); trying the one before it")
            continue
        for warning in passed_over:
            warnings.warn(warning, stacklevel=2)
        return saved
    return None


def why_broken(folder) -> str | None:
    """Why the newest checkpoint folder of a run is broken (when `newest` found none intact); None without any."""
    for path in steps(folder):
        try:
            verify(path)
        except BrokenCheckpoint as error:
            return f"{path.name}: {error}"
    return None
