"""Per-group step statistics: groups of parameter names, norms from the flat buffers."""

import numpy as np
import pytest

from littlebaby.plugins.resolve import build_model
from littlebaby.training.stats import GroupStats, group_of


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


@pytest.mark.parametrize("sequence", ["pre", "post"])
def test_every_group_norm_matches_its_tensors(sequence):
    # the runs of neighbouring same-group tensors must cover each tensor once, in its own group
    model = build_model(dict(n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=3, c_sequence=sequence), vocab_size=5)
    stats = GroupStats(model.parameters)
    flat = np.random.default_rng(1).standard_normal(model.parameters.size).astype(np.float32)
    got = dict(zip(stats.groups, stats.squared_norms(flat)))
    expected = {}
    for name, tensor in model.parameters.named(flat).items():
        expected[group_of(name)] = expected.get(group_of(name), 0.0) + float((tensor.astype(np.float64) ** 2).sum())
    assert got.keys() == expected.keys()
    for group, value in expected.items():
        assert got[group] == pytest.approx(value, rel=1e-5), group
