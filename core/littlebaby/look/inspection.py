"""Look inside a model: every parameter tensor, totals per block and group, the closed-form count.

Each block may state its own parameter count in closed form with the
`parameter_formula(config, options)` classmethod of the block contract
(block.py), returning (formula, count), or None when it states none;
`closed_form(model)` adds them up with the embeddings, final norm and head and
`render_table` checks the total against the tensors actually allocated (or
says the total is not checked).
"""

import math

from littlebaby.config import BLOCK_KEYS, block_options
from littlebaby.training.stats import GROUPS, group_of


def block_of(name: str) -> str:
    """'blocks.3.attention.qkv.weight' -> 'blocks.3'; 'wte.weight' -> 'wte'."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "blocks" else parts[0]


def parameter_rows(model) -> list[dict]:
    """One row per tensor: name, shape, count, dtype, mean, std."""
    rows = []
    for name, value in model.parameters.named().items():
        rows.append(
            dict(
                name=name,
                shape=tuple(value.shape),
                count=int(value.size),
                dtype=str(value.dtype),
                mean=float(value.mean()),
                std=float(value.std()),
            )
        )
    return rows


def closed_form(model):
    """(formula text, count) of the whole model from the blocks' own formulas, or None if a block states none."""
    config = model.config
    H, V, L, n_ctx = config.n_emb, model.vocab_size, config.n_layers, config.n_ctx
    terms, per_layer = [], 0
    for kind in ("sequence", "attention", "network", "position"):  # a position's own tensors sit in each attention
        cls = model.config.chosen(kind)
        stated = cls.parameter_formula(config, block_options(config, cls))
        if stated is None:
            return None
        text, count = stated
        if kind != "position" or count:
            terms.append(f"{getattr(config, BLOCK_KEYS[kind])}: {text}")
        per_layer += count
    # the final norm is the sequence block's choice (LayerNorm: 2H, RMSNorm: H); positions are optional
    final = sum(math.prod(spec.shape) for *_, spec in model.ln_f.named_specs())
    positions = n_ctx * H if config.pos_emb else 0
    head = 0 if config.tie_embeddings else H * V + (V if config.bias else 0)
    head_text = "0 (head tied to wte)" if config.tie_embeddings else ("H*V + V" if config.bias else "H*V")
    total = V * H + positions + L * per_layer + final + head
    text = (
        f"P = V*H + {'n_ctx*H' if config.pos_emb else '0 (no wpe)'} + L*(per layer) + {final // H}H (ln_f) + "
        f"{head_text}, "
        f"per layer = {' + '.join(terms)}; H=n_emb={H}, A=head_size={config.head_size}, V={V}, L={L}, n_ctx={n_ctx}"
    )
    return text, total


def render_table(model) -> str:
    """The text `littlebaby inspect` prints."""
    rows = parameter_rows(model)
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'name':<{width}}  {'shape':<16} {'count':>9}  {'dtype':<8} {'mean':>10} {'std':>10}"]
    for r in rows:
        shape = "x".join(map(str, r["shape"]))
        lines.append(
            f"{r['name']:<{width}}  {shape:<16} {r['count']:>9,}  {r['dtype']:<8} {r['mean']:>10.4f} {r['std']:>10.4f}"
        )
    total = sum(r["count"] for r in rows)
    by_block, by_group = {}, {}
    for r in rows:
        by_block[block_of(r["name"])] = by_block.get(block_of(r["name"]), 0) + r["count"]
        by_group[group_of(r["name"])] = by_group.get(group_of(r["name"]), 0) + r["count"]
    lines.append("")
    lines.append("per block: " + ", ".join(f"{k} {v:,}" for k, v in by_block.items()))
    lines.append("per kind:  " + ", ".join(f"{k} {by_group[k]:,}" for k in GROUPS if k in by_group))
    lines.append(f"total:     {total:,} parameters")
    form = closed_form(model)
    if form is None:
        lines.append("closed form: a block states no parameter_formula; total not checked")
    else:
        text, expected = form
        verdict = "matches" if expected == total else f"DOES NOT MATCH ({expected:,})"
        lines.append(f"closed form: {text} = {expected:,}: {verdict}")
    return "\n".join(lines)
