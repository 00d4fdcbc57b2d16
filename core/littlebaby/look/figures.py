"""Figures: training curves and attention maps, as matplotlib Figures.

matplotlib is an optional extra (`pip install 'littlebaby[plot]'`). Figures are
built with `matplotlib.figure.Figure` directly (no pyplot state), so the same
functions serve the CLI (saved to PNG) and notebooks (displayed as returned).
"""

import numpy as np

from littlebaby.errors import UserError, shown

CELL_INCHES = 2.4


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError(
            "plots need matplotlib, which is not installed",
            "install the extra: pip install 'littlebaby[plot]' (or uv sync --extra plot)",
        ) from None
    return Figure(figsize=(width, height), layout="constrained")


VISIBLE = {"\n": "⏎", " ": "␣", "\t": "⇥"}


def _or_nan(value) -> float:
    """A report statistic to plot: null (overflowed, report.step_record) or missing becomes a gap."""
    return np.nan if value is None else value


def visible(token: str) -> str:
    """A token's text as an axis label: newlines, spaces and tabs made visible."""
    return "".join(VISIBLE.get(char, char) for char in token)


def training_figure(report, name: str = ""):
    """Train and val loss against step (and tokens), learning rate and gradient norm."""
    steps, evals, tokens_per_step = report.curves()
    if not steps:
        raise UserError("this run's report has no training steps yet", "train it first, or pick another run")
    step = np.array([s["step"] for s in steps])
    figure = _figure(11, 7)
    (loss_ax, lr_ax), (norm_ax, ratio_ax) = figure.subplots(2, 2)
    loss_ax.plot(step, [s["loss"] for s in steps], lw=0.8, alpha=0.7, label="train")
    if evals:
        loss_ax.plot([e["step"] for e in evals], [e["loss"] for e in evals], "o-", label="val")
    loss_ax.set(xlabel="step", ylabel="loss", title="loss")
    loss_ax.legend()
    tokens_axis = loss_ax.secondary_xaxis(
        "top", functions=(lambda s: s * tokens_per_step / 1e6, lambda t: t * 1e6 / tokens_per_step)
    )
    tokens_axis.set_xlabel("tokens (millions)")
    lr_ax.plot(step, [s["lr"] for s in steps])
    lr_ax.set(xlabel="step", ylabel="learning rate", title="learning rate")
    norm_ax.plot(step, [s["grad_norm"] for s in steps], lw=0.8)
    norm_ax.set(xlabel="step", ylabel="global gradient norm", title="gradient norm (before clipping)", yscale="log")
    groups = steps[-1].get("groups", {})
    for group in groups:
        ratio_ax.plot(
            step, [_or_nan(s.get("groups", {}).get(group, {}).get("update_ratio")) for s in steps], lw=0.8, label=group
        )
    ratio_ax.set(xlabel="step", ylabel="|update| / |weights|", title="update-to-weight ratio", yscale="log")
    if groups:
        ratio_ax.legend()
    figure.suptitle(name)
    return figure


def comparison_figure(named_reports: dict):
    """Val loss of several runs overlaid, against step and against training seconds (steps only)."""
    curves = {name: report.val_curve() for name, report in named_reports.items()}
    for name, (steps, _, _) in curves.items():
        if not steps:
            raise UserError(f"run {name} has no val loss yet", "train it past its first eval, or leave it out")
    longest = max(max(seconds) for _, seconds, _ in curves.values())
    unit, per = ("minutes", 60) if longest > 120 else ("seconds", 1)
    figure = _figure(11, 4.2)
    by_step, by_time = figure.subplots(1, 2, sharey=True)
    labels = legend_labels(named_reports)
    for name, (steps, seconds, losses) in curves.items():
        label = labels[name]
        by_step.plot(steps, losses, "o-", ms=3, label=label)
        by_time.plot(np.array(seconds) / per, losses, "o-", ms=3, label=label)
    by_step.set(xlabel="step", ylabel="val loss", title="val loss by step")
    by_time.set(xlabel=f"training {unit} (steps only, no evals)", title="val loss by wall time")
    by_step.legend()
    return figure


def legend_labels(named_reports: dict) -> dict:
    """run -> 'its name (guid): the config keys whose values differ between the runs'."""
    configs = {name: report.listed()["config"] for name, report in named_reports.items()}
    keys = sorted({key for config in configs.values() for key in config})
    differ = [key for key in keys if len({repr(config.get(key)) for config in configs.values()}) > 1]
    labels = {}
    for name, report in named_reports.items():
        values = ", ".join(f"{key}={configs[name].get(key)}" for key in differ[:4]) + " ..." * (len(differ) > 4)
        labels[name] = f"{report.listed()['name']} ({name[:8]})" + (f": {values}" if values else "")
    return labels


def observations(model, ids) -> list[dict]:
    """Per layer: {"attention": (H, T, T) weights, "heads gate": (T, H), "experts gate": (T, E)} for one prompt."""
    model.record()
    try:
        model.logits(np.asarray(ids)[None])
        found = []
        for layer in model.layers:
            seen = {}
            for part, label in (("attention", "heads gate"), ("network", "experts gate")):
                block = layer.children.get(part)
                for sub in block.walk() if block is not None else ():
                    for name, value in (sub.observations or {}).items():
                        key = "attention" if name == "attention" else label
                        seen.setdefault(key, value[0])
            found.append(seen)
        return found
    finally:
        model.record(False)


def attention_figure(model, ids, text, layer=None, head=None):
    """Heatmaps of attention weights with the prompt on both axes, plus any gates.

    text: the prompt (one label per character) or the text of each token (tokenizer.token_text)."""
    for name, value in (("layer", layer), ("head", head)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserError(
                f"{{{name}}} must be a whole number or None, got {shown(value)}", f"for example {{{name}=}}0", name
            )
    per_layer = observations(model, ids)
    layers = range(len(per_layer)) if layer is None else [layer]
    for index in layers:
        if not 0 <= index < len(per_layer):
            raise UserError(
                f"layer {index} does not exist (the model has {len(per_layer)})",
                f"use {{layer=}}0..{len(per_layer) - 1}",
                "layer",
            )
    first = per_layer[0]
    if "attention" not in first:
        raise UserError("this model's attention block publishes no attention weights", "nothing to draw")
    n_heads = first["attention"].shape[0]
    heads = range(n_heads) if head is None else [head]
    if head is not None and not 0 <= head < n_heads:
        raise UserError(
            f"head {head} does not exist (the model has {n_heads})", f"use {{head=}}0..{n_heads - 1}", "head"
        )
    gates = [g for g in ("heads gate", "experts gate") if g in first]
    labels = [visible(c) for c in text]
    cols = len(heads) + len(gates)
    figure = _figure(CELL_INCHES * cols + 1, CELL_INCHES * len(layers) + 0.6)
    axes = np.atleast_2d(figure.subplots(len(layers), cols, squeeze=False))
    fontsize = max(4, min(9, 240 // max(1, len(text))))
    for row, index in enumerate(layers):
        seen = per_layer[index]
        for col, h in enumerate(heads):
            ax = axes[row, col]
            ax.imshow(seen["attention"][h], cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_title(f"layer {index} head {h}", fontsize=9)
            ax.set_xticks(range(len(labels)), labels, fontsize=fontsize)
            ax.set_yticks(range(len(labels)), labels, fontsize=fontsize)
            ax.set_xlabel("key", fontsize=8)
            ax.set_ylabel("query", fontsize=8)
        for col, gate in enumerate(gates, start=len(heads)):
            ax = axes[row, col]
            ax.imshow(seen[gate], cmap="magma", vmin=0.0, vmax=1.0, aspect="auto")
            ax.set_title(f"layer {index} {gate}", fontsize=9)
            ax.set_yticks(range(len(labels)), labels, fontsize=fontsize)
            ax.set_xlabel("head" if gate == "heads gate" else "expert", fontsize=8)
    return figure
