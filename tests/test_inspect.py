"""Looking inside: the parameter table, closed-form counts, per-group step statistics."""

import itertools

import numpy as np
import pytest

from littlebaby.inspect import GroupStats, closed_form, group_of, parameter_rows, render_table
from littlebaby.model import build_model


@pytest.mark.parametrize("sequence,attention,network",
                         list(itertools.product(["pre", "post"], ["mha", "moh"], ["mlp", "moe"])))
def test_closed_form_equals_allocated_count(sequence, attention, network):
    config = dict(c_sequence=sequence, c_attention=attention, c_network=network,
                  n_ctx=16, n_emb=24, head_size=36, n_heads=3, n_layers=3, n_experts=5)
    model = build_model(config, vocab_size=11)
    text, count = closed_form(model)
    assert count == model.parameters.size
    assert "V*H" in text
    assert "matches" in render_table(model)


def test_table_rows_describe_every_tensor():
    model = build_model(dict(n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=1), vocab_size=5)
    rows = parameter_rows(model)
    assert sum(r["count"] for r in rows) == model.parameters.size
    wpe = next(r for r in rows if r["name"] == "wpe.weight")
    assert wpe["shape"] == (8, 8) and wpe["dtype"] == "float32"
    assert wpe["std"] == pytest.approx(0.02, rel=0.5)
    table = render_table(model)
    assert "per kind:" in table and "blocks.0" in table


def test_group_names():
    assert group_of("blocks.2.attention.qkv.weight") == "attention"
    assert group_of("blocks.0.network.up.bias") == "network"
    assert group_of("blocks.0.ln1.weight") == "norm" and group_of("ln_f.bias") == "norm"
    assert group_of("wte.weight") == "embedding" and group_of("head.weight") == "head"


def test_group_stats_match_direct_norms():
    model = build_model(dict(n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=2), vocab_size=5)
    stats = GroupStats(model.parameters)
    rng = np.random.default_rng(0)
    grad = rng.standard_normal(model.parameters.size).astype(np.float32)
    before = model.parameters.data.copy()
    after = before + 0.01 * grad
    result = stats.step_stats(grad, stats.squared_norms(before), before - after)
    named_grad = model.parameters.named(grad)
    attention = [v for k, v in named_grad.items() if group_of(k) == "attention"]
    expected = np.sqrt(sum(float((a.astype(np.float64) ** 2).sum()) for a in attention))
    assert result["attention"]["grad_norm"] == pytest.approx(expected, rel=1e-5)
    weights = [v for k, v in model.parameters.named(before).items() if group_of(k) == "head"]
    ratio = 0.01 * result["head"]["grad_norm"] / np.sqrt(sum(float((w.astype(np.float64) ** 2).sum()) for w in weights))
    assert result["head"]["update_ratio"] == pytest.approx(ratio, rel=1e-4)
