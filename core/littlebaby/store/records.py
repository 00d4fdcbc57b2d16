"""The records a report holds: what a run trained on, one step, the machine, and what is said at the end."""

import math
import platform

import attrs
import numpy as np


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
