"""Looking inside: the parameter table and closed-form counts."""

import itertools

import pytest

from littlebaby.inspect import closed_form, parameter_rows, render_table
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
