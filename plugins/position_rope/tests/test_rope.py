"""rope through the kit (the tiny config has odd head widths, d_k 3, and an even one below),
and its own behaviour: relative positions, sliding generation, rope_base, the shared heads of gqa."""

import littlebaby_position_rope as rope_module
import numpy as np
import pytest

from littlebaby.nn.generation import generate
from littlebaby.nn.ops.rotary import rotary_tables
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.testing import block_suite, build_block, check_cache, randomize, tiny_config, tiny_model

TestRotaryPositions = block_suite("position", "rope", options={"rope_base": 100.0})
TestRotaryPositionsEvenHeads = block_suite("position", "rope", sizes={"head_size": 16})  # d_k 4: all rotated
TestRotaryPositionsWithTable = block_suite("position", "rope", options={"rope_with_wpe": True})


def attention(name="mha", **keys):
    return build_block("attention", name, tiny_config(c_position="rope", c_attention=name, **keys))


def test_width_one_heads_are_mha():
    """d_k 1 leaves the only feature unrotated: the same outputs as mha with the same weights."""
    keys = dict(n_emb=4, head_size=2, n_heads=2)
    rope, mha = attention(**keys), build_block("attention", "mha", tiny_config(c_position="none", **keys))
    for name, value in mha.parameters.named().items():
        value[...] = rope.parameters.named()[name]
    x = np.random.default_rng(0).standard_normal((2, 6, 4))
    np.testing.assert_allclose(rope.forward(x), mha.forward(x), rtol=1e-12)


def test_shifting_every_position_changes_nothing():
    """Scores see only distances: a cache that starts at position 1000 gives the outputs of position 0."""
    block = attention(head_size=16)
    x = np.random.default_rng(1).standard_normal((1, 5, 12))
    far = tiny_model().new_cache()
    far.dropped = 1000  # as if 1000 tokens had slid out before
    np.testing.assert_allclose(block.forward(x, far.layers[0]), block.forward(x), rtol=1e-9)


def test_positions_matter_unlike_mha():
    block = attention(head_size=16)
    x = np.random.default_rng(2).standard_normal((1, 6, 12))
    x[:, 3] = x[:, 1]  # the same token at two positions, after different histories
    x[:, 2] = x[:, 0]
    y = block.forward(x)
    assert not np.allclose(y[:, 3], y[:, 1])


def test_slide_needs_absolute_positions_for_queries():
    """The kit's slide check fails a rope whose queries are rotated at their slot instead of their position."""
    block = attention(head_size=16)

    class SlotCache:  # what the block sees if it read cache.pos (the slot) as its position
        def __init__(self, layer):
            self.layer = layer
            self.position = layer.pos

        def extend(self, name, new):
            return self.layer.extend(name, new)

    forward = block.forward
    block.forward = lambda x, cache=None: forward(x, SlotCache(cache) if cache is not None else None)
    check_cache(block, policy="refill")  # both agree while nothing slides out
    with pytest.raises(AssertionError, match="slide policy"):
        check_cache(block, policy="slide")


@pytest.mark.parametrize("attention_name", ["mha", "moh", "gqa"])
def test_rope_model_generates_the_same_text_cached_and_uncached(attention_name):
    keys = {"n_kv_heads": 1} if attention_name == "gqa" else {}
    config = resolve.config(
        dict(c_position="rope", c_attention=attention_name, n_ctx=8, n_emb=16, head_size=16, n_heads=2, n_layers=2)
        | dict(dtype="float64", **keys)
    )
    model = build_model(config, vocab_size=11)
    randomize(model.parameters, scale=0.5)
    assert "wpe.weight" not in model.parameters.named() and model.slides
    runs = []
    for use_cache in (True, False):
        logits = []
        ids = generate(
            model,
            [1, 2, 3],
            30,
            rng=np.random.default_rng(3),
            use_cache=use_cache,
            on_logits=lambda row: logits.append(row.copy()),
        )
        runs.append((ids, np.array(logits)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_allclose(runs[0][1], runs[1][1], atol=1e-9, rtol=0)


def test_rope_base_changes_the_outputs():
    x = np.random.default_rng(4).standard_normal((1, 6, 12))
    y = [attention(head_size=16, rope_base=base).forward(x) for base in (10.0, 10000.0)]
    assert not np.allclose(*y)


def test_gqa_rotates_its_shared_keys_like_mha_when_every_head_has_its_own():
    """gqa with n_kv_heads = n_heads is mha weight for weight, rotations included."""
    mha, gqa = attention(head_size=16), attention("gqa", head_size=16, n_kv_heads=4)
    for name, value in gqa.parameters.named().items():
        value[...] = mha.parameters.named()[name]
    x = np.random.default_rng(6).standard_normal((2, 7, 12))
    np.testing.assert_allclose(gqa.forward(x), mha.forward(x), rtol=1e-12)
    shared = attention("gqa", head_size=16, n_kv_heads=2)  # and with shared heads, the rotation matters
    plain = build_block(
        "attention", "gqa", tiny_config(c_attention="gqa", head_size=16, n_kv_heads=2, c_position="none")
    )
    assert not np.allclose(shared.forward(x), plain.forward(x))


def test_the_rotation_tables_are_built_once_for_every_step_and_token_within_n_ctx(monkeypatch):
    built = []
    original = rope_module.ops.rotary_tables
    monkeypatch.setattr(
        rope_module.ops,
        "rotary_tables",
        lambda positions, *rest: built.append(len(positions)) or original(positions, *rest),
    )
    rope_module.shared_table.cache_clear()
    block = attention(head_size=16)
    n_ctx = block.position.n_ctx
    x = np.random.default_rng(5).standard_normal((2, n_ctx, 12))
    for _ in range(3):  # three training steps
        block.forward(x)
        block.backward(np.ones_like(x))
    block.forward(x[:, :3])  # a shorter window
    cache = tiny_model(c_position="rope", head_size=16).new_cache().layers[0]
    for t in range(n_ctx):  # a token at a time through the cache
        block.forward(x[:1, t : t + 1], cache)
    assert built == [n_ctx]


def test_every_layer_and_thread_replica_of_a_model_reads_one_rotation_table(monkeypatch):
    rope_module.shared_table.cache_clear()
    built = []
    original = rope_module.ops.rotary_tables
    monkeypatch.setattr(
        rope_module.ops, "rotary_tables", lambda positions, *rest: built.append(1) or original(positions, *rest)
    )
    model = tiny_model(c_position="rope", head_size=16, n_layers=3)
    twin = model.replica()
    ids = np.arange(8)[None] % model.vocab_size
    np.testing.assert_array_equal(model.logits(ids), twin.logits(ids))
    assert built == [1]
    tables = {id(layer.attention.position.table[0]) for m in (model, twin) for layer in m.layers}
    assert len(tables) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sliced_rotation_tables_are_those_of_their_positions(dtype):
    block = attention(head_size=16, rope_base=100.0).position
    n_ctx, d_k = block.n_ctx, 4
    for start, T in [(0, n_ctx), (2, 3), (n_ctx - 1, 1), (n_ctx - 2, 5), (1000, 1)]:  # the last two: past n_ctx
        expected = rotary_tables(np.arange(start, start + T), d_k, 100.0, dtype)
        for got, want in zip(block.rotations(start, T, d_k, dtype), expected):
            assert got.dtype == dtype and got.shape == (T, d_k // 2)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    assert block.rotations(0, 2, 6, dtype)[0].shape == (2, 3)  # another head width: its own table
