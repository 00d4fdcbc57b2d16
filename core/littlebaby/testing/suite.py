"""block_suite: the whole kit as one pytest test class, so a plugin's test file is three lines.

    from littlebaby.testing import block_suite

    TestMine = block_suite("attention", "mine")

The class checks, on tiny float64 configs (build.py's TINY sizes, or the
block's own `sizes`): the block's gradients (with and
without dropout; an attention's with every installed position encoding it
takes; a position encoding's inside mha), a whole model's gradients with the block in it, cached
generation against full forwards past n_ctx (the block alone for attention,
the model for every kind), odd shapes, a save/load round trip, the block's
`parameter_formula` against the tensors allocated (when it states one), and that the
block is registered under its name with each of its options rejecting a bad
value with the one-line error of the core. Add tests of the block's own behaviour
beside it in the same file.
"""

import functools
import inspect

import attrs

from littlebaby.config import BLOCK_KEYS, block_options
from littlebaby.errors import UserError
from littlebaby.look.inspection import closed_form
from littlebaby.nn.block import Block
from littlebaby.testing.build import build_block, check_sizes, registry_with, set_training, tiny_config, tiny_model
from littlebaby.testing.cache import check_cache
from littlebaby.testing.gradients import check_gradients, check_model_gradients
from littlebaby.testing.roundtrip import check_roundtrip
from littlebaby.testing.shapes import CASES, check_shapes

# the other blocks a model is built with, per kind under test: pre and post wiring, both mixtures
MODEL_PARTNERS = {
    "sequence": ({"c_attention": "mha", "c_network": "mlp"}, {"c_attention": "moh", "c_network": "moe"}),
    "attention": ({"c_sequence": "pre", "c_network": "mlp"}, {"c_sequence": "post", "c_network": "moe"}),
    "network": ({"c_sequence": "pre", "c_attention": "mha"}, {"c_sequence": "post", "c_attention": "moh"}),
    "position": ({"c_sequence": "pre", "c_attention": "mha"}, {"c_sequence": "rms", "c_attention": "moh"}),
}
# a position encoding acts inside attentions: its per-block checks run on an attention that applies it
POSITION_CARRIER = "mha"


def positions_to_try(registry, attention) -> tuple:
    """The installed position encodings an attention is checked with: all when it takes positions, else those
    that do nothing inside attentions (learned and none)."""
    takes = "position" in inspect.signature(attention).parameters
    return tuple(entry.name for entry in registry.blocks["position"].values() if takes or not entry.cls.in_attention)


def block_suite(kind: str, name: str, *, plugin=None, options=None, sizes=None, cases=CASES):
    """A pytest test class for the `kind` block registered as `name`.

    plugin:  the plugin module, when the tests may run without it installed
             (it is then registered directly, beside the installed plugins).
    options: the block's own config keys used in every check, e.g. {"n_kv_heads": 2}.
    sizes:   TINY sizes the block needs instead (n_ctx, n_emb, head_size,
             n_heads, n_layers), e.g. {"head_size": 16} for heads of width 4.
    cases:   check_shapes' odd-size cases, applied on top of the above
             (`with_even_head_width()` for a block that needs even head widths).
    """
    import pytest  # only test code needs pytest, not `import littlebaby.testing`

    if kind not in BLOCK_KEYS:
        raise ValueError(f"kind must be one of {', '.join(BLOCK_KEYS)}, got {kind!r}")
    selected = {BLOCK_KEYS[kind]: name, **check_sizes(sizes), **(options or {})}
    partners = MODEL_PARTNERS[kind]
    # the block the per-block checks build: the block itself, or for a position the attention carrying it
    block_kind, block_name = ("attention", POSITION_CARRIER) if kind == "position" else (kind, name)

    def ids(partner):
        return "-".join(partner.values())

    @functools.cache
    def registry():  # entry points are read once per suite, when its first test runs
        return registry_with(plugin)

    class Suite:
        def test_registered_and_options_validated(self):
            cls = registry().resolve(kind, name).cls
            assert issubclass(cls, Block)
            for field in attrs.fields(cls.Options) if cls.Options is not None else ():
                # a JSON object is the wrong type for any option
                with pytest.raises(UserError, match=field.name) as error:
                    tiny_config(registry(), **{**selected, field.name: {"bad": 1}})
                assert "\n" not in str(error.value)

        @pytest.mark.parametrize("dropout", [0.0, 0.2])
        def test_gradients(self, dropout):
            config = tiny_config(registry(), dropout=dropout, **selected)
            check_gradients(set_training(build_block(block_kind, block_name, config, registry()), dropout > 0))

        @pytest.mark.parametrize("partner", partners, ids=ids)
        def test_model_gradients(self, partner):
            check_model_gradients(registry(), **{**partner, **selected})

        @pytest.mark.parametrize("partner", partners, ids=ids)
        def test_model_cache(self, partner):
            # with a learned table the model refills its cache past n_ctx; without, it slides it
            if kind == "position":
                check_cache(tiny_model(registry(), **{**partner, **selected}))
                return
            attention = tiny_config(registry(), **{**partner, **selected}).chosen("attention")
            for position in positions_to_try(registry(), attention):
                check_cache(tiny_model(registry(), **{**partner, "c_position": position, **selected}))

        def test_shapes(self):
            check_shapes(block_name, kind=block_kind, registry=registry(), options=selected, cases=cases)

        def test_parameter_formula(self):
            cls = registry().resolve(kind, name).cls
            model = tiny_model(registry(), **{**partners[0], **selected})
            if cls.parameter_formula(model.config, block_options(model.config, cls)) is None:
                pytest.skip(f"{name} states no parameter_formula (inspect leaves the total unchecked)")
            text, count = closed_form(model)
            assert count == model.parameters.size, (
                f"closed form {text} = {count:,}, allocated {model.parameters.size:,}"
            )

        def test_roundtrip(self):
            check_roundtrip(block_name, tiny_config(registry(), **selected), kind=block_kind, registry=registry())

    if block_kind == "attention":  # the block alone; every kind is checked inside a model above

        def test_cache(self):
            # sliding catches a position taken from the cache's slot instead of cache.position
            for policy in ("refill", "slide"):
                check_cache(block_name, tiny_config(registry(), **selected), registry=registry(), policy=policy)

        Suite.test_cache = test_cache

    if kind == "attention":  # with every position encoding it can take: rope's rotation in its q and k

        def test_gradients_with_each_position(self):
            attention = registry().resolve("attention", name).cls
            for position in positions_to_try(registry(), attention):
                config = tiny_config(registry(), **{"c_position": position, **selected})
                check_gradients(build_block(kind, name, config, registry()))

        Suite.test_gradients_with_each_position = test_gradients_with_each_position

    Suite.__name__ = Suite.__qualname__ = f"Test{kind.capitalize()}{name.capitalize()}"
    return Suite
