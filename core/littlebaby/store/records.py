"""The records a report holds (what a run trained on, one step, the machine, what is said at the end), and
what makes a report readable: strict checks for resume and plot, tolerant values for listings."""

import math
import platform

import attrs
import numpy as np

from littlebaby.config import migrate
from littlebaby.errors import UserError
from littlebaby.system import memory

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
    # how train and val were cut: "bytes" (the text's first 90% of bytes, before tokenizing: every tokenizer is
    # judged on the same val bytes) or "tokens" (runs made before: the last 10% of the ids)
    split: str = "tokens"
    prepared: bool = False  # a directory made by prepare (sha256: its fingerprint, text/corpus.py)


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
    allreduce_seconds_per_step: float | None = None
    processes: int = 1

    @classmethod
    def of(cls, data: dict) -> "Summary":
        world, counts = data.get("world", {}), [data.get(key, 0) for key in ("steps_done", "total_steps")]
        best = [data.get(key) for key in ("best_val_loss", "best_val_step")]
        return cls(
            data["status"],
            data["parameters"],
            *counts,
            *best,
            data.get("train_seconds", 0.0),
            data.get("tokens_per_second") or 0.0,
            data.get("best_val_bpb"),
            world.get("allreduce_seconds_per_step"),
            world.get("processes", 1),
        )


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


def _statistic(value) -> float | None:
    """4 significant digits, or None (null) once it overflowed: a step on its way to diverging can
    square weights past float32's range while its loss is finite, and JSON has no NaN."""
    return float(f"{value:.4g}") if math.isfinite(value) else None


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


def value_of(data, key, kind, default="?"):
    """data[key] when data is a dict and the value is of `kind` (bools are not numbers), else default."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, kind) and not isinstance(value, bool) else default


def read_limit() -> int:
    """The largest report file read back: LIMIT, or less on a small machine (parsing JSON costs memory)."""
    return memory.json_limit(LIMIT)


def _numbers(record, keys, nulls: bool = False) -> bool:
    """A JSON object with a number under each key (`keys`: all of its own when None), or with
    `nulls` a null too (a group statistic that overflowed, step_record)."""
    return isinstance(record, dict) and all(
        (nulls and k in record and record[k] is None) or value_of(record, k, (int, float), None) is not None
        for k in keys or record
    )


def problem(report) -> str | None:
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


def listed_blocks(config: dict) -> str:
    """sequence/attention/network as `runs` lists a saved config, a position acting in the attention beside it
    (mha+rope), and "(no wpe)" for a model without a learned position table; older keys read as today's."""
    try:
        config = migrate(config)
    except UserError:
        pass
    position = value_of(config, "c_position", str, "learned")
    attention = str(value_of(config, "c_attention", str)) + ("" if position in ("learned", "none") else f"+{position}")
    text = f"{value_of(config, 'c_sequence', str)}/{attention}/{value_of(config, 'c_network', str)}"
    return text if position == "learned" or config.get("rope_with_wpe") is True else text + " (no wpe)"
