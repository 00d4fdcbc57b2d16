"""Looking inside: the parameter table and closed-form counts."""

import itertools

import pytest

import littlebaby
from littlebaby.look.inspection import closed_form, parameter_rows, render_table
from littlebaby.nn.layers import Linear
from littlebaby.plugins.registry import Registry
from littlebaby.plugins.resolve import build_model


@pytest.mark.parametrize("position", ["learned", "none", "rope"])
@pytest.mark.parametrize(
    "sequence,attention,network",
    list(itertools.product(["pre", "post", "rms"], ["mha", "moh", "gqa"], ["mlp", "moe", "swiglu"])),
)
def test_closed_form_equals_allocated_count(sequence, attention, network, position):
    config = dict(
        c_sequence=sequence,
        c_attention=attention,
        c_network=network,
        c_position=position,
        n_ctx=16,
        n_emb=24,
        head_size=36,
        n_heads=3,
        n_layers=3,
    ) | ({"n_experts": 5} if network == "moe" else {})
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


class Unstated(littlebaby.Block):
    """A network block that states no parameter_formula: the contract's default says None."""

    def __init__(self, config, options=None):
        super().__init__(config, options)
        self.proj = self.add("proj", Linear(config.n_emb, config.n_emb))


class Plugin:
    @staticmethod
    @littlebaby.hookimpl
    def register_networks(register):
        register("unstated", Unstated)


def test_a_block_without_a_formula_leaves_the_total_unchecked():
    registry = Registry(plugins=[Plugin])
    model = build_model(dict(c_network="unstated", n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=1), 5, registry)
    assert Unstated.parameter_formula(model.config, None) is None
    assert closed_form(model) is None
    assert "closed form: a block states no parameter_formula; total not checked" in render_table(model)
