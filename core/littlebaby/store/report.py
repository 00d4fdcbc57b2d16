"""The run report, outputs/report_<run>.json: its keys are written and read here only.

A report is a JSON object, kept as a plain dict while a run trains (a notebook looks at `result.report`),
written after each eval and at least every few seconds, read back by resume, `plot` and `runs`. Its keys:

    guid, base, created, littlebaby_version     who: the run, the run it was finetuned from
    config_name, config, blocks, parameters,    what was trained
      vocab_size, new_characters (finetunes)
    data: {source, shipped, characters,         what it was trained on (see `Data`)
           sha256, rereadable, train_tokens, val_tokens, val_bytes, val_bytes_per_token}
    writer: {pid, host}                         the process training it now (or last)
    environment                                 Python, numpy, BLAS
    total_steps, steps_per_epoch, batch_size    the schedule, set when training starts
    steps: [step_record, ...]                   one record per step
    val: [{step, loss, bpb}, ...], best_val_loss, best_val_step, best_val_bpb
                                                bpb: bits per byte (corpus.bits_per_byte)
    status                                      running, finished, interrupted, diverged or imported
                                                  (listed as killed: running, but its writer is gone)
    stop_signal                                 the signal that interrupted it (SIGINT, SIGTERM, SIGHUP)
    diverged_at                                 the step whose loss was not a number
    steps_done, train_seconds, wall_seconds,    progress and throughput
      tokens_per_second, peak_memory_mb
    resumed: [step, ...]                        where each resume started

Writing goes through the functions below; `read` is strict (resume and plot need a whole report);
listing.py reads tolerantly for `runs` (a '?' for what it cannot read, not a failure on one damaged report).
"""

import datetime
import math
import os
import platform
import socket

import attrs
import numpy as np

import littlebaby
from littlebaby import config as configs
from littlebaby.store import home as files
from littlebaby.system import memory
from littlebaby.system import reading
from littlebaby.store.weights import plugin_metadata
from littlebaby.text.corpus import bits_per_byte
from littlebaby.errors import UserError
from littlebaby.store.report_writer import ReportWriter

LIMIT = 256 << 20  # bytes of a report file read back: about 350,000 steps' records


@attrs.frozen
class Data:
    """What a run was trained on: a file, a prepared directory, or a text shipped inside the package."""

    source: str  # for people: the file's or directory's absolute path, or e.g. "tiny Shakespeare (shipped)"
    shipped: str | None  # the shipped text's name (littlebaby/data/<name>.txt), None for a file
    characters: int  # of a text file; 0 for a prepared directory
    sha256: str | None = None  # of the text's UTF-8 bytes: resume refuses a changed text
    rereadable: bool = True  # False for a pipe or other non-regular file: it cannot be read again
    # the token ids trained on (corpus.Corpus.counts); val bytes per token turn val loss into bits per byte
    train_tokens: int | None = None
    val_tokens: int | None = None
    val_bytes: int | None = None
    val_bytes_per_token: float | None = None


# -- creating and writing ------------------------------------------------------------
def environment() -> dict:
    """Python, numpy and BLAS as reported by numpy, for the report."""
    info = {"python": platform.python_version(), "platform": platform.platform(), "numpy": np.__version__}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration") if k in blas}
        info["simd"] = config.get("SIMD Extensions", {}).get("found")
    except (TypeError, AttributeError):  # numpy older than 1.26 has no mode="dicts"
        info["blas"] = None
    return info


def new(name: str, config, config_name: str, model, data: Data, base: str | None = None, new_characters=None) -> dict:
    report = {
        "guid": name,  # the run name: a uuid4, with _finetuned... for a finetune
        "base": base,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "littlebaby_version": littlebaby.__version__,
        "config_name": config_name,
        "config": configs.to_dict(config),
        "blocks": plugin_metadata(model),
        "parameters": int(model.parameters.size),
        "vocab_size": model.vocab_size,
        "data": attrs.asdict(data),
        "environment": environment(),
    }
    if new_characters is not None:  # a finetune: the characters its text added to the vocabulary
        report["new_characters"] = new_characters
    return report


def write(path, report: dict, writer: ReportWriter | None = None):
    """The report file; a session passes its one writer, which serialises only the records new since its last write."""
    (writer or ReportWriter()).write(path, report)


def start(report: dict, total_steps: int, steps_per_epoch: int, batch_size: int):
    """The schedule of the training about to start (again, when resumed), by this process."""
    report.setdefault("steps", [])
    report.setdefault("val", [])
    report.update(total_steps=total_steps, steps_per_epoch=steps_per_epoch, batch_size=batch_size, status="running",
                  writer={"pid": os.getpid(), "host": socket.gethostname()})
    for key in ("stop_signal", "diverged_at"):  # of an earlier session: this one has neither stopped nor diverged
        report.pop(key, None)


def step_record(step: int, loss, lr, grad_norm, seconds: float, tokens: int, groups: dict) -> dict:
    """What the report keeps of one step; groups: per parameter group, the norm of the
    gradient as applied (after clipping) and |update| / |weights| (stats.GroupStats)."""
    return {
        "step": step,
        "loss": round(float(loss), 5),
        "lr": float(lr),
        "grad_norm": round(float(grad_norm), 5),
        "seconds": round(seconds, 5),
        "tokens_per_second": round(tokens / seconds, 1),
        "groups": {name: {k: _statistic(v) for k, v in stats.items()} for name, stats in groups.items()},
    }


def _statistic(value) -> float | None:
    """4 significant digits, or None (null) once it overflowed: a step on its way to diverging can
    square weights past float32's range while its loss is finite, and JSON has no NaN."""
    return float(f"{value:.4g}") if math.isfinite(value) else None


def add_step(report: dict, record: dict, train_seconds: float):
    report["steps"].append(record)
    report["train_seconds"] = round(train_seconds, 3)


def add_val(report: dict, step: int, loss: float):
    record = {"step": step, "loss": round(loss, 5)}
    bytes_per_token = (report.get("data") or {}).get("val_bytes_per_token")
    if bytes_per_token:  # comparable across tokenizers
        record["bpb"] = round(bits_per_byte(loss, bytes_per_token), 5)
    report["val"].append(record)
    _keep_if_best(report, record)


def _keep_if_best(report: dict, record: dict):
    if report.get("best_val_loss") is None or record["loss"] < report["best_val_loss"]:
        report["best_val_loss"], report["best_val_step"], report["best_val_bpb"] = record["loss"], record["step"], record.get("bpb")


def step_count(report: dict) -> int:
    return len(report["steps"])


def last_val_step(report: dict) -> int | None:
    return report["val"][-1]["step"] if report.get("val") else None


def add_wall_seconds(report: dict, seconds: float):
    """Wall time includes evals and report writes; train_seconds only the steps."""
    report["wall_seconds"] = round(report.get("wall_seconds", 0.0) + seconds, 3)


def progress(report: dict, status: str, steps_done: int, tokens_per_second, peak_memory_mb: float):
    report.update(status=status, steps_done=steps_done, tokens_per_second=tokens_per_second, peak_memory_mb=peak_memory_mb)


def resumed(report: dict, config, step: int):
    """A resume from `step`, possibly with a changed recipe (e.g. max_steps)."""
    report["config"] = configs.to_dict(config)
    report.setdefault("resumed", []).append(step)


def position(report: dict) -> dict:
    """Where the report stands, saved with each checkpoint: resuming from it forgets what came later."""
    return {"steps": len(report["steps"]), "val": len(report["val"]), "train_seconds": report.get("train_seconds", 0.0),
            "wall_seconds": report.get("wall_seconds", 0.0)}


def rewind(report: dict, saved: dict, step: int):
    """The report as it was at a checkpoint of `step`: later step and val records were not kept by it."""
    report["steps"] = [s for s in report.get("steps", [])[: saved.get("steps")] if s.get("step", 0) <= step]
    report["val"] = [v for v in report.get("val", [])[: saved.get("val")] if v.get("step", 0) <= step]
    for key in ("best_val_loss", "best_val_step", "best_val_bpb"):
        report.pop(key, None)
    for record in report["val"]:
        _keep_if_best(report, record)
    report.update(train_seconds=saved.get("train_seconds", 0.0), wall_seconds=saved.get("wall_seconds", 0.0), steps_done=step)


def stopped_by(report: dict, signal_name: str | None):
    report["stop_signal"] = signal_name


def diverged(report: dict, step: int):
    """The loss stopped being a number at `step`: what the last good steps were stays."""
    report.update(status="diverged", diverged_at=step, steps_done=step - 1)


def trained_elsewhere(report: dict) -> int | None:
    """The pid of another live process training this run now, or None."""
    writer = report.get("writer")
    if report.get("status") == "running" and writer_alive(report) and writer["pid"] != os.getpid():
        return writer["pid"]
    return None


def writer_alive(report: dict) -> bool:
    """Whether the process that last trained the run is still running (on this machine: elsewhere, assume so)."""
    writer = report.get("writer")
    if not isinstance(writer, dict) or not isinstance(writer.get("pid"), int):
        return False
    return writer.get("host") != socket.gethostname() or files.process_alive(writer["pid"])


def imported(report: dict):
    report.update(status="imported", steps_done=0)


# -- reading ---------------------------------------------------------------------------
def read_limit() -> int:
    """The largest report file read back: LIMIT, or less on a small machine (parsing JSON costs memory)."""
    return memory.json_limit(LIMIT)


def read(path, run: str | None = None) -> dict:
    """The whole report of a run (of `run`, when given), or a one-line UserError: every part resume
    and plot use is checked here, so a damaged report fails in one line rather than deep inside a figure."""
    report = reading.read_json(path, "report file", read_limit(), memory.JSON_FIX)
    problem = _problem(report)
    if problem:
        raise UserError(f"report file {path} is not a littlebaby report ({problem})", "restore or regenerate it")
    owner = report.get("guid")
    if run is not None and isinstance(owner, str) and owner != run:  # copied or swapped between runs
        raise UserError(f"report file {path} is the report of run {reading.shown(owner)}, not of {run}",
                        "restore this run's own report")
    return report


def value_of(data, key, kind, default="?"):
    """data[key] when data is a dict and the value is of `kind` (bools are not numbers), else default."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else default


def _numbers(record, keys, nulls: bool = False) -> bool:
    """A JSON object with a number under each key (`keys`: all of its own when None), or with
    `nulls` a null too (a group statistic that overflowed, step_record)."""
    return isinstance(record, dict) and all((nulls and k in record and record[k] is None)
                                            or value_of(record, k, (int, float), None) is not None for k in keys or record)


def _problem(report) -> str | None:
    """What makes `report` unusable for resume and plot, or None."""
    if not isinstance(report, dict):
        return "not a JSON object"
    if not all(value_of(report.get("config"), k, int, 0) > 0 for k in ("batch_size", "n_ctx")):
        return "no config with batch_size and n_ctx"
    steps, val = report.get("steps", []), report.get("val", [])
    if not isinstance(steps, list) or not all(_numbers(r, ("step", "loss", "lr", "grad_norm")) for r in steps):
        return "a step record lacks step, loss, lr or grad_norm"
    groups = [r.get("groups", {}) for r in steps]
    if not all(isinstance(g, dict) and all(_numbers(v, None, nulls=True) for v in g.values()) for g in groups):
        return "a step record has unreadable group statistics"
    if not isinstance(val, list) or not all(_numbers(r, ("step", "loss")) for r in val):
        return "a val record lacks step or loss"
    return None


def train_seconds(report: dict) -> float:
    return report.get("train_seconds", 0.0)


def data_of(report: dict, path) -> Data:
    """The recorded data of a run (for resume), or a UserError for a report without it."""
    data = report.get("data")
    try:
        counts = {key: data.get(key) for key in ("train_tokens", "val_tokens", "val_bytes", "val_bytes_per_token")}
        return Data(str(data["source"]), data.get("shipped"), int(data["characters"]), data.get("sha256"),
                    data.get("rereadable", True) is not False, **counts)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise UserError(f"report file {path} does not record the run's data", "finetune the run on its data instead") from None


@attrs.frozen
class Summary:
    """What the CLI says when a run ends."""

    status: str
    parameters: int
    steps_done: int
    total_steps: int
    best_val_loss: float | None
    best_val_step: int | None
    train_seconds: float
    tokens_per_second: float
    best_val_bpb: float | None = None


def summary(report: dict) -> Summary:
    return Summary(report["status"], report["parameters"], report.get("steps_done", 0), report.get("total_steps", 0), report.get("best_val_loss"),
                   report.get("best_val_step"), report.get("train_seconds", 0.0), report.get("tokens_per_second") or 0.0,
                   report.get("best_val_bpb"))


def curves(report: dict) -> tuple[list, list, int]:
    """(step records, val records, tokens per step) for the training figure."""
    config = report.get("config", {})
    return report.get("steps", []), report.get("val", []), config["batch_size"] * config["n_ctx"]
