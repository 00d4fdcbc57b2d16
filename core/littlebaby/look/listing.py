"""The runs of a home as rows (`littlebaby runs`, `runs --markdown`) and val curves (`compare`).

Reading for a listing is tolerant: a report that is damaged or from another
version gives a row with '?' (or None) where a value is unreadable, never an
error, so one broken run cannot hide the others. report.py owns the schema;
this module only reads it.
"""

import numpy as np

from littlebaby.store import home as files
from littlebaby.system import reading
from littlebaby.errors import UserError
from littlebaby.store.report import read_limit, value_of as _field, writer_alive

def row(name: str, report) -> dict:
    """One line of `runs`: whatever of the report is readable, '?' (or None) for the rest."""
    config = _field(report, "config", dict, {})
    created = _field(report, "created", str, "")
    status = _field(report, "status", str)
    if status == "running" and not writer_alive(report):
        status = "killed"
    return {
        "guid": name,
        "date": created[:16].replace("T", " "),
        "config": _field(report, "config_name", str),
        "blocks": "/".join(str(_field(config, k, str)) for k in ("c_sequence", "c_attention", "c_network")),
        "tokenizer": _field(config, "c_tokenizer", str, "char"),  # older runs have no key: char
        "params": _field(report, "parameters", int, None),
        "steps": _field(report, "steps_done", int, None),
        "best_val_loss": _field(report, "best_val_loss", (int, float), None),
        "best_val_bpb": _field(report, "best_val_bpb", (int, float), None),
        "seconds": _field(report, "train_seconds", (int, float), None),
        "status": status,
    }


# the columns of the original project's report analysis, where a report has them
COMPARISON = ("run", "blocks", "n_ctx", "n_emb", "head_size", "n_heads", "n_layers", "batch", "lr",
              "step ms", "train s", "parameters", "best val loss")


def comparison_row(name: str, report) -> dict:
    """One line of `runs --markdown`: architecture, recipe, speed, size and result; None where unreadable."""
    config = _field(report, "config", dict, {})
    seconds = [r.get("seconds") for r in _field(report, "steps", list, []) if isinstance(r, dict)]
    seconds = [s for s in seconds if isinstance(s, (int, float))]
    blocks = row(name, report)["blocks"] + (" (no wpe)" if config.get("pos_emb") is False else "")
    values = [name[:8], blocks] + [_field(config, k, int, None) for k in COMPARISON[2:7]]
    values += [_field(config, "batch_size", int, None), _field(config, "lr", (int, float), None),
               round(1000 * float(np.median(seconds)), 1) if seconds else None,  # median: robust to the first, slow step
               _round(_field(report, "train_seconds", (int, float), None)), _field(report, "parameters", int, None),
               _field(report, "best_val_loss", (int, float), None)]
    result = dict(zip(COMPARISON, values))
    bits = _field(report, "best_val_bpb", (int, float), None)
    if bits is not None:
        result["val bits per byte"] = bits
    return result


def _round(value):
    return None if value is None else round(value, 1)


def markdown(rows: list[dict]) -> str:
    """Rows of dicts as a Markdown table (columns from the union of their keys, in order); None prints as '?'."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = (r.get(c) for c in columns)
        lines.append("| " + " | ".join("?" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in cells) + " |")
    return "\n".join(lines)


def runs(home=".", comparison: bool = False) -> list[dict]:
    """One row per run in the home, oldest first (from each run's report, where it has one).

    comparison: the columns of `comparison_row` (for `runs --markdown`) instead of the listing's.
    """
    home = files.Home(home)
    if home.path.exists() and not home.path.is_dir():  # "no runs" would hide the mistyped path
        raise UserError(f"home {home.path} is a file, not a directory", "pass the folder holding the run files (--home DIR)")
    home.clean_leftovers()
    rows, limit = [], read_limit()
    for name in home.runs():
        try:
            report = reading.read_json(home.report(name), "report file", limit)
        except UserError:
            report = {}
        rows.append((comparison_row if comparison else row)(name, report))
    return rows


def val_curve(report: dict) -> tuple[list, list, list]:
    """(steps, training seconds so far, val loss) of each val record; seconds count the steps only, not evals."""
    elapsed, total = {}, 0.0
    for record in report.get("steps", []):
        total += record.get("seconds", 0.0)
        elapsed[record["step"]] = total
    val = report.get("val", [])
    steps = [v["step"] for v in val]
    seconds = [elapsed.get(s, 0.0) for s in steps]  # the val at step s follows step record s (step 0: none yet)
    return steps, seconds, [v["loss"] for v in val]
