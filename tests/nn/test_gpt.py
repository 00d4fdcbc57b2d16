"""The whole model: gradients for every block combination, cache, replicas, growing the vocabulary."""

import itertools

import numpy as np
import pytest

from littlebaby.nn import gpt as model_module
from littlebaby.nn import layers
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.testing import check_gradients, randomize

COMBINATIONS = list(itertools.product(["pre", "post"], ["mha", "moh"], ["mlp", "moe"]))


def tiny(**overrides):
    keys = dict(n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=2, dtype="float64")
    keys.update(overrides)
    return resolve.config(keys)


@pytest.mark.parametrize("sequence,attention,network", COMBINATIONS)
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_gradients_of_every_combination(sequence, attention, network, dropout):
    config = tiny(c_sequence=sequence, c_attention=attention, c_network=network, dropout=dropout)
    model = build_model(config, vocab_size=7).train()
    randomize(model.parameters)
    report = check_gradients(model, tol=1e-6)
    assert len(report.errors) == len(model.parameters.specs)


def test_gradient_check_catches_a_wrong_sign():
    model = build_model(tiny(), vocab_size=7).train()
    randomize(model.parameters)
    layer_norm = model.layers[0].ln2
    original = layer_norm.backward
    layer_norm.backward = lambda dy: -original(dy)
    with pytest.raises(AssertionError, match="blocks.0"):
        check_gradients(model)


@pytest.mark.parametrize("sequence,attention,network", COMBINATIONS)
def test_default_dtype_is_float32_and_trains(sequence, attention, network):
    config = resolve.config(
        dict(
            c_sequence=sequence,
            c_attention=attention,
            c_network=network,
            n_ctx=8,
            n_emb=16,
            head_size=16,
            n_heads=4,
            n_layers=1,
        )
    )
    model = build_model(config, vocab_size=5).train()
    ids = np.random.default_rng(0).integers(0, 5, (4, 8))
    loss = model.loss_and_grad(ids, ids)
    assert model.parameters.data.dtype == np.float32 and model.grad.dtype == np.float32
    assert model.forward(ids).dtype == np.float32
    assert np.isfinite(loss) and np.abs(model.grad).sum() > 0


@pytest.mark.parametrize("sequence,attention,network", COMBINATIONS)
def test_cached_forward_equals_full_forward(sequence, attention, network):
    config = tiny(c_sequence=sequence, c_attention=attention, c_network=network, n_ctx=6)
    model = build_model(config, vocab_size=9)
    randomize(model.parameters)
    ids = np.random.default_rng(1).integers(0, 9, (2, 6))
    full = model.logits(ids)
    cache = model.new_cache()
    steps = [model.logits(ids[:, :3], cache)] + [model.logits(ids[:, t : t + 1], cache) for t in range(3, 6)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="n_ctx"):
        model.logits(ids[:, :1], cache)


def test_replica_shares_parameters_not_gradients():
    model = build_model(tiny(), vocab_size=7).train()
    twin = model.replica()
    ids = np.random.default_rng(0).integers(0, 7, (2, 8))
    model.grad[...] = 0
    twin.grad[...] = 0
    twin.loss_and_grad(ids, ids)
    assert np.abs(model.grad).sum() == 0 and np.abs(twin.grad).sum() > 0
    model.parameters.data[:5] += 1.0
    np.testing.assert_array_equal(twin.parameters.named()["wte.weight"], model.parameters.named()["wte.weight"])
    np.testing.assert_array_equal(twin.logits(ids), model.logits(ids))


def test_grown_vocabulary_keeps_old_logits():
    model = build_model(tiny(), vocab_size=7)
    randomize(model.parameters)
    ids = np.random.default_rng(0).integers(0, 7, (2, 8))
    grown = model.grow_vocab(10, np.random.default_rng(5))
    old, new = model.logits(ids), grown.logits(ids)
    assert new.shape == (2, 8, 10)
    np.testing.assert_array_equal(new[..., :7], old)
    assert np.abs(grown.parameters.named()["wte.weight"][7:]).sum() > 0


def test_grown_vocabulary_initialises_new_rows_by_each_tensors_declared_rule(monkeypatch):
    """New rows follow the init their tensor declares, the one rule a new model uses (params.py):
    here a head whose weight is a residual projection and whose bias starts at one."""

    class Head(layers.Linear):
        def __init__(self, n_in, n_out, bias=True):
            super().__init__(n_in, n_out, bias=False, init="residual")
            self.has_bias = bias
            self.parameter("bias", (n_out,), init="ones")

    monkeypatch.setattr(model_module, "Linear", Head)
    config = tiny(n_emb=64, head_size=64, n_layers=8)
    model = build_model(config, vocab_size=7)
    randomize(model.parameters)
    grown = model.grow_vocab(57, np.random.default_rng(5)).parameters.named()
    old = model.parameters.named()
    np.testing.assert_array_equal(grown["head.weight"][:, :7], old["head.weight"])
    np.testing.assert_array_equal(grown["head.bias"][:7], old["head.bias"])
    assert np.all(grown["head.bias"][7:] == 1.0)
    assert grown["head.weight"][:, 7:].std() == pytest.approx(config.init_std / 4, rel=0.05)  # 1 / sqrt(2 * 8)
    assert grown["wte.weight"][7:].std() == pytest.approx(config.init_std, rel=0.05)


def test_parameter_names_are_readable_and_decay_only_matrices():
    model = build_model(tiny(c_network="moe"), vocab_size=7)
    names = list(model.parameters.specs)
    assert "blocks.0.attention.qkv.weight" in names and "blocks.1.network.up.weight" in names
    assert {"wte.weight", "wpe.weight", "ln_f.weight", "head.weight", "head.bias"} <= set(names)
    for name, spec in model.parameters.specs.items():
        assert spec.decay == (len(spec.shape) >= 2 and not name.endswith("bias")), name
    decayed = sum(np.prod(s.shape) for s in model.parameters.specs.values() if s.decay)
    assert model.parameters.decay_size == decayed


def test_residual_projections_get_scaled_init():
    config = resolve.config(dict(n_layers=8, n_emb=64, head_size=64, n_heads=4))
    named = build_model(config, vocab_size=20).parameters.named()
    proj = named["blocks.0.attention.proj.weight"].std()
    qkv = named["blocks.0.attention.qkv.weight"].std()
    assert qkv == pytest.approx(0.02, rel=0.05)
    assert proj == pytest.approx(0.02 / np.sqrt(16), rel=0.1)
    assert np.all(named["blocks.0.ln1.weight"] == 1) and np.all(named["head.bias"] == 0)


def test_observations_expose_attention_and_gates():
    model = build_model(tiny(c_attention="moh", c_network="moe"), vocab_size=7)
    model.record()
    model.logits(np.arange(5))
    attention = model.layers[0].attention
    weights = attention.attend.observations["attention"]
    assert weights.shape == (1, 2, 5, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0)
    np.testing.assert_allclose(attention.observations["gate"].sum(-1), 1.0)
    assert model.layers[1].network.observations["gate"].shape == (1, 5, 4)
    model.record(False)
    assert attention.observations is None


def test_core_layers_are_walked_by_the_model_but_are_not_blocks():
    from littlebaby.nn.block import Block
    from littlebaby.nn.layers import CausalAttention, Dropout

    model = build_model(tiny(dropout=0.5), vocab_size=7)
    attends = [layer for layer in model.walk() if isinstance(layer, CausalAttention)]
    selected = [
        block for layer in model.layers for block in (layer, layer.attention, layer.attention.position, layer.network)
    ]
    assert len(attends) == 2 and [layer for layer in model.walk() if isinstance(layer, Block)] == selected
    ids = np.arange(6)[None] % 7
    model.eval()
    quiet = model.forward(ids)
    model.train()  # the mode and the model's generator reach the dropout inside CausalAttention
    assert all(layer.training and layer.rng is model.rng for layer in model.walk() if isinstance(layer, Dropout))
    model.layers[0].attention.dropout.p = model.layers[0].network.dropout.p = 0.0  # only attention's own dropout left
    model.layers[1].attention.dropout.p = model.layers[1].network.dropout.p = 0.0
    assert not np.allclose(model.forward(ids), quiet)
    model.set_rng(np.random.default_rng(3))
    first = model.forward(ids)
    model.set_rng(np.random.default_rng(3))
    np.testing.assert_array_equal(model.forward(ids), first)  # its masks come from model.rng alone


@pytest.mark.parametrize(
    "keys",
    [
        {"tie_embeddings": True, "qkv_bias": True, "norm_eps": 1e-3},  # GPT-2's shape
        {"bias": False, "c_sequence": "rms", "c_network": "swiglu", "norm_eps": 1e-6},  # Llama's
        {"tie_embeddings": True, "bias": False, "c_sequence": "post"},
        {"logit_softcap": 2.0},  # the speedrun's tanh cap on the logits
        {"logit_softcap": 1.5, "tie_embeddings": True},
    ],
)
def test_what_families_differ_in_keeps_gradients_cache_and_counts_right(keys):
    from littlebaby.look.inspection import closed_form
    from littlebaby.testing import check_cache, check_model_gradients, tiny_model

    check_model_gradients(None, **keys)  # a tied head: wte's gradient holds both of its uses
    model = tiny_model(**keys)
    check_cache(model)
    names = model.parameters.named()
    assert ("head.weight" in names) is not keys.get("tie_embeddings", False)
    assert ("blocks.0.attention.qkv.bias" in names) is keys.get("qkv_bias", False)
    assert ("blocks.0.attention.proj.bias" in names) is keys.get("bias", True)
    assert closed_form(model)[1] == model.parameters.size
    assert model.ln_f.eps == keys["norm_eps"] if "norm_eps" in keys else model.ln_f.eps == 1e-5


def test_norm_eps_is_the_eps_the_norms_use():
    ids = np.arange(6)[None] % 5
    small, large = (build_model(tiny(norm_eps=eps), vocab_size=5) for eps in (1e-5, 1.0))
    large.parameters.data[...] = small.parameters.data
    assert not np.allclose(small.eval().logits(ids), large.eval().logits(ids))


def test_the_soft_cap_bounds_the_logits_and_is_off_at_zero():
    ids = np.arange(6)[None] % 5
    plain, capped = (build_model(tiny(logit_softcap=cap), vocab_size=5).eval() for cap in (0.0, 0.5))
    capped.parameters.data[...] = plain.parameters.data * 50  # large logits, to be squashed
    plain.parameters.data[...] *= 50
    raw, squashed = plain.logits(ids), capped.logits(ids)
    assert np.abs(raw).max() > 100 and np.abs(squashed).max() <= 0.5
    np.testing.assert_allclose(squashed, 0.5 * np.tanh(raw / 0.5), rtol=1e-5, atol=1e-6)


def test_zero_initialised_projections_start_at_zero_and_leave_the_rest_as_drawn():
    plain, zeroed = (build_model(tiny(zero_init_residual=flag), vocab_size=5) for flag in (False, True))
    for name, spec in plain.parameters.specs.items():
        mine, theirs = zeroed.parameters.named()[name], plain.parameters.named()[name]
        if spec.init == "residual":
            assert not mine.any() and theirs.any(), name
        else:
            np.testing.assert_array_equal(mine, theirs, err_msg=name)
    assert any(spec.init == "residual" for spec in plain.parameters.specs.values())
