"""Plugin discovery: blocks registered through the hooks, selected by name, errors in one line."""

import sys
import textwrap
import types
import warnings

import attrs
import numpy as np
import pytest

import littlebaby
from littlebaby.errors import UserError
from littlebaby.nn.layers import Linear
from littlebaby.plugins import resolve
from littlebaby.plugins.registry import PluginWarning, Registry
from littlebaby.plugins.resolve import build_model


class Mixer(littlebaby.Block):
    """A tiny 'attention' that only mixes features: enough to be selected and trained."""

    def __init__(self, config, options=None):
        super().__init__(config, options)
        self.proj = self.add("proj", Linear(config.n_emb, config.n_emb))

    def forward(self, x, cache=None):
        return self.proj.forward(x)

    def backward(self, dy):
        return self.proj.backward(dy)


def plugin_module(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, hook in hooks.items():
        setattr(module, hook_name, littlebaby.hookimpl(hook))
    return module


def test_builtins_are_discovered_through_entry_points():
    registry = Registry()
    names = {(e.kind, e.name): e.distribution for e in registry.entries()}
    assert names[("attention", "mha")] == "littlebaby-attention-mha"
    assert {
        ("sequence", "pre"),
        ("sequence", "post"),
        ("attention", "moh"),
        ("network", "mlp"),
        ("network", "moe"),
    } <= set(names)


def test_a_block_registered_through_the_hook_is_selected_by_name():
    mixer = plugin_module("mixer_plugin", register_attentions=lambda register: register("mixer", Mixer))
    registry = Registry(plugins=[mixer])
    config = resolve.config(
        {"c_attention": "mixer", "n_ctx": 8, "n_emb": 8, "head_size": 8, "n_heads": 2, "n_layers": 1}, registry=registry
    )
    model = build_model(config, vocab_size=5, registry=registry)
    assert isinstance(model.layers[0].attention, Mixer)
    assert "blocks.0.attention.proj.weight" in model.parameters.specs
    ids = np.arange(8)[None] % 5
    assert np.isfinite(model.train().loss_and_grad(ids, ids))


def test_unknown_name_is_one_line_with_installed_and_hint():
    registry = Registry()
    with pytest.raises(UserError) as error:
        registry.resolve("attention", "rwkv")  # a name no workspace plugin provides
    text = str(error.value)
    # mha, moh; also gqa, mla after `uv sync --all-packages` (what .ci/run does)
    installed = ", ".join(sorted(registry.blocks["attention"]))
    assert {"mha", "moh"} <= set(registry.blocks["attention"])
    assert text == (
        f"unknown attention block 'rwkv' (installed: {installed}); install it: pip install littlebaby-attention-rwkv"
    )


def test_close_name_is_suggested():
    with pytest.raises(UserError, match="did you mean 'mha'"):
        Registry().resolve("attention", "mhaa")


def test_two_plugins_with_one_name_are_an_error_naming_both():
    first = plugin_module("first", register_attentions=lambda register: register("mha2", Mixer))
    second = plugin_module("second", register_attentions=lambda register: register("mha2", Mixer))
    registry = Registry(entry_points=False, plugins=[first])
    with pytest.raises(UserError, match="first and second"):
        registry.add(second)


def installed_plugin(tmp_path, monkeypatch, name: str, source: str) -> Registry:
    """A real installed distribution littlebaby-attention-<name> with module `source`, discovered
    by a fresh Registry; returns it with the plugin warnings it gave in `registry.warned`."""
    module = f"littlebaby_attention_{name}"
    dist = tmp_path / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: littlebaby-attention-{name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[littlebaby]\n{name} = {module}\n")
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            registry = Registry()
    finally:
        sys.modules.pop(module, None)
    registry.warned = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    return registry


def test_a_broken_plugin_warns_and_the_others_keep_working(tmp_path, monkeypatch):
    registry = installed_plugin(
        tmp_path,
        monkeypatch,
        "broken",
        """
        raise ImportError("needs a library that is not installed")
    """,
    )
    assert registry.warned == [
        "plugin littlebaby-attention-broken failed to import "
        "(ImportError: needs a library that is not installed); its blocks are unavailable"
    ]
    assert registry.resolve("attention", "mha").name == "mha"
    with pytest.raises(UserError, match="comes from plugin littlebaby-attention-broken, which failed to import"):
        registry.resolve("attention", "broken")


def test_a_plugin_whose_register_hook_raises_is_broken_not_fatal(tmp_path, monkeypatch):
    registry = installed_plugin(
        tmp_path,
        monkeypatch,
        "raises",
        """
        import littlebaby

        @littlebaby.hookimpl
        def register_attentions(register):
            register("half", object)  # registered before the failure: must not stay
            raise RuntimeError("the register hook broke")
    """,
    )
    assert registry.warned == [
        "plugin littlebaby-attention-raises failed to register its blocks "
        "(RuntimeError: the register hook broke); its blocks are unavailable"
    ]
    assert "half" not in registry.blocks["attention"] and registry.resolve("attention", "mha").name == "mha"
    assert [(b.distribution, b.stage) for b in registry.broken] == [
        ("littlebaby-attention-raises", "failed to register its blocks")
    ]
    assert registry.manager.get_plugin("raises") is None
    with pytest.raises(
        UserError, match="comes from plugin littlebaby-attention-raises, which failed to register its blocks"
    ):
        registry.resolve("attention", "raises")


def test_char_is_built_in_through_the_same_hook_and_bpe_comes_from_its_distribution():
    from littlebaby.plugins.registry import Registry
    from littlebaby.text.char import CharTokenizer

    bare = Registry(entry_points=False)
    assert (
        bare.resolve("tokenizer", "char").cls is CharTokenizer
        and bare.resolve("tokenizer", "char").distribution == "littlebaby"
    )
    with pytest.raises(UserError, match="unknown tokenizer 'bpe' .*pip install littlebaby-tokenizer-bpe"):
        bare.resolve("tokenizer", "bpe")
    assert Registry().resolve("tokenizer", "bpe").distribution == "littlebaby-tokenizer-bpe"


@pytest.mark.parametrize(
    "option,said",
    [
        ("lr", "'lr', a core config key"),
        ("n_experts", r"already an option of network block 'moe' \(littlebaby-network-moe\)"),
    ],
)
def test_an_option_named_like_a_core_key_or_another_plugins_option_is_refused(option, said):
    Options = attrs.make_class("Options", {option: attrs.field(default=1.0)}, frozen=True)
    clashing = type("Clashing", (Mixer,), {"Options": Options})
    module = plugin_module("clash_plugin", register_attentions=lambda register: register("clash", clashing))
    registry = Registry()
    with pytest.raises(TypeError, match=said):
        registry.add(module)
    assert "clash" not in registry.blocks["attention"]  # the registry is as it was; the others keep working
    assert resolve.config({"c_network": "moe", "n_experts": 2}, registry).options == {"n_experts": 2}
