"""The runs of a home as rows: `littlebaby runs` and `runs --markdown`.

Reading for a listing is tolerant (`Report.listed`): a report that is damaged or from another version
gives a row with '?' (or None) where a value is unreadable, never an error, so one broken run cannot
hide the others.
"""

import numpy as np

from littlebaby.errors import UserError
from littlebaby.store.home import Home
from littlebaby.store.records import read_limit
from littlebaby.store.report import Report


def row(name: str, report: Report) -> dict:
    """One line of `runs`: whatever of the report is readable, '?' (or None) for the rest."""
    seen = report.listed()
    return {
        "guid": name,
        "name": seen["name"],
        "date": seen["created"][:16].replace("T", " "),
        "blocks": seen["blocks"],
        "tokenizer": seen["tokenizer"],
        "params": seen["parameters"],
        "steps": seen["steps_done"],
        "best_val_loss": seen["best_val_loss"],
        "best_val_bpb": seen["best_val_bpb"],
        "bpb_comparable": seen["bpb_comparable"],  # False: a run made before val was cut by bytes
        "seconds": seen["train_seconds"],
        "status": seen["status"],
    }


# the columns of the original project's report analysis, where a report has them
COMPARISON = (
    "run",
    "blocks",
    "n_ctx",
    "n_emb",
    "head_size",
    "n_heads",
    "n_layers",
    "batch",
    "lr",
    "step ms",
    "train s",
    "parameters",
    "best val loss",
)


def _number(config: dict, key: str, kind=int):
    value = config.get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def comparison_row(name: str, report: Report) -> dict:
    """One line of `runs --markdown`: architecture, recipe, speed, size and result; None where unreadable."""
    seen = report.listed()
    config, seconds = seen["config"], seen["step_seconds"]
    values = [name[:8], seen["blocks"]] + [_number(config, k) for k in COMPARISON[2:7]]
    values += [
        _number(config, "batch_size"),
        _number(config, "lr", (int, float)),
        round(1000 * float(np.median(seconds)), 1) if seconds else None,  # median: robust to the first, slow step
        None if seen["train_seconds"] is None else round(seen["train_seconds"], 1),
        seen["parameters"],
        seen["best_val_loss"],
    ]
    result = dict(zip(COMPARISON, values))
    if seen["best_val_bpb"] is not None:
        result["val bits per byte"] = seen["best_val_bpb"]
    return result


def markdown(rows: list[dict]) -> str:
    """Rows of dicts as a Markdown table (columns from the union of their keys, in order); None prints as '?'."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = (r.get(c) for c in columns)
        lines.append(
            "| " + " | ".join("?" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in cells) + " |"
        )
    return "\n".join(lines)


def runs(home=".", comparison: bool = False) -> list[dict]:
    """One row per run in the home, oldest first (from each run's report, where it has one).

    comparison: the columns of `comparison_row` (for `runs --markdown`) instead of the listing's.
    """
    home = Home(home)
    if home.path.exists() and not home.path.is_dir():  # "no runs" would hide the mistyped path
        raise UserError(
            f"home {home.path} is a file, not a directory", "pass the folder holding the run files ({home=}DIR)", "home"
        )
    home.clean_leftovers()
    rows, limit = [], read_limit()
    for name in home.runs():
        report = Report.tolerant(home.report(name), limit)
        rows.append((comparison_row if comparison else row)(name, report))
    return rows
