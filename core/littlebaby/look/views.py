"""Looking inside a run: its parameter table, training curves, attention maps, several runs compared.

The tables and figures themselves are built by inspection.py and figures.py; this module finds the run
and writes the PNG.
"""

import hashlib
import io
from pathlib import Path

from littlebaby.errors import UserError
from littlebaby.runs.load import load_named
from littlebaby.store.home import Home
from littlebaby.store.report import Report
from littlebaby.system import arguments, atomic


def inspect(run="last", home=".") -> str:
    """The parameter table of a run: every tensor, totals per block and kind, the closed-form check."""
    from littlebaby.look.inspection import render_table

    home = Home(home)
    name = home.resolve(run)
    model = load_named(home, name).model
    return f"run {name}\n" + render_table(model)


def _save_figure(figure, path: Path) -> Path:
    """A figure as a PNG, written atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic.write_bytes(path, buffer.getvalue())
    return path


def _output(figure, home, kind: str, name: str, out):
    if out is None:
        return figure, None
    path = (
        home.path / "outputs" / f"{kind}_{name}.png" if out is True else arguments.given_path(out, "out", f"{kind}.png")
    )
    return figure, _save_figure(figure, path)


def plot(run="last", home=".", out=None):
    """Loss curves, learning rate, gradient norm and update ratios of a run; returns (figure, PNG path or None).

    out: a PNG path, True for outputs/plot_<run>.png, None to only return the figure (notebooks).
    """
    from littlebaby.look.figures import training_figure

    home = Home(home)
    name = home.resolve(run)
    report = Report.read(home.report(name), name)
    return _output(training_figure(report, f"{report.listed()['name']} ({name[:8]})"), home, "plot", name, out)


def attention(run="last", prompt="ROMEO:", layer=None, head=None, home=".", out=None):
    """Attention maps (and moh/moe gates) of a run on a prompt; returns (figure, PNG path or None).

    out: a PNG path, True for outputs/attention_<run>.png, None to only return the figure.
    """
    from littlebaby.look.figures import attention_figure

    home = Home(home)
    name = home.resolve(run)
    config, tokenizer, model = load_named(home, name)
    if not prompt:
        raise UserError("the {prompt} is empty", "give the text to look at, e.g. {prompt=}'ROMEO:'", "prompt")
    arguments.given_text(prompt, "prompt")
    ids = tokenizer.encode(prompt)
    if len(ids) > config.n_ctx:
        raise UserError(
            f"the prompt has {len(ids)} tokens, more than n_ctx = {config.n_ctx}",
            f"use a prompt of at most {config.n_ctx} tokens",
        )
    figure = attention_figure(model, ids, [tokenizer.token_text(i) for i in ids], layer, head)
    return _output(figure, home, "attention", name, out)


def significance(runs, home=".") -> list[str]:
    """Lines saying whether groups of runs (configs alike but for the seed) differ beyond noise (Welch's t)."""
    from littlebaby.look.figures import legend_labels
    from littlebaby.look.significance import lines

    home = Home(home)
    runs = [runs] if isinstance(runs, str) else runs
    names = list(dict.fromkeys(home.resolve(run) for run in runs))
    reports = {name: Report.read(home.report(name), name) for name in names}
    results = {
        name: {
            "config": report.listed()["config"],
            **{k: report.data.get(k) for k in ("best_val_loss", "best_val_bpb")},
        }
        for name, report in reports.items()
    }
    return lines(results, legend_labels(reports))


def compare(runs, home=".", out=None):
    """Val curves of several runs overlaid, by step and by training time; returns (figure, PNG path or None).

    runs: run names (or "last"); out: a PNG path, True for outputs/compare_<runs>.png (named after every run
    compared, so that another comparison never writes over it), None for the figure only.
    """
    from littlebaby.look.figures import comparison_figure

    home = Home(home)
    runs = [runs] if isinstance(runs, str) else runs  # one run, or a list of them
    if not runs:
        raise UserError("compare needs at least one run", "name runs as `littlebaby runs` lists them")
    names = list(dict.fromkeys(home.resolve(run) for run in runs))
    figure = comparison_figure({name: Report.read(home.report(name), name) for name in names})
    # the runs' GUID prefixes in a fixed order: the same comparison, the same file; another one, another file
    key = "_".join(sorted(name[:8] for name in names))
    if len(names) > 6:
        key = f"{len(names)}_runs_{hashlib.sha256(' '.join(sorted(names)).encode()).hexdigest()[:12]}"
    return _output(figure, home, "compare", key, out)
