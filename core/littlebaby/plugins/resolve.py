"""Names become classes once, at the edge: a config, a tokenizer file or a model from the installed plugins.

`config(data)` validates a flat dict (a JSON file, `--set` values) into a `Config` that carries the
plugins it selects (`config.selected`, read with `config.chosen(kind)`): the model, the tokenizer and the
memory estimate take their classes from it, so nothing below this asks the registry again. Plugin keys
are checked against the selected plugins' `Options`: a key of a plugin the config does not select is an
error naming that plugin, a key that no installed plugin declares one with the closest known name.
"""

import attrs

from littlebaby.config import CORE_KEYS, PLUGIN_KEYS, Config, converter, migrate, structure, to_dict, unknown_key
from littlebaby.errors import UserError, shown
from littlebaby.nn.gpt import GPT
from littlebaby.plugins.registry import default_registry, what
from littlebaby.text.tokenizer import DEFAULT, Tokenizer


def config(data: dict, registry=None) -> Config:
    """A valid Config, its plugins resolved, from a flat dict of config keys."""
    if not isinstance(data, dict):
        raise UserError(
            "a config must be a JSON object of key: value pairs",
            "see the shipped baby config (littlebaby/configs/baby.json)",
        )
    registry = registry or default_registry()
    given = data = migrate(data)  # the keys of older runs, in today's names
    data = dict(data)
    core = structure({k: data.pop(k) for k in list(data) if k in CORE_KEYS}, Config)
    if "min_lr" in given and core.min_lr > core.lr:  # the default min_lr is capped at a small lr (schedule.py)
        raise UserError(
            f"min_lr {core.min_lr:g} is above lr {core.lr:g}: the schedule would rise",
            f"set {{min_lr=}}{core.lr:g} or less",
            "min_lr",
        )
    names = {kind: getattr(core, key) for kind, key in PLUGIN_KEYS.items()}
    selected = {kind: registry.resolve(kind, names[kind]) for kind in PLUGIN_KEYS}
    declared = registry.declared_options()
    options = {}
    for kind, entry in selected.items():
        if entry.cls.Options is None:
            continue
        mine = {f.name for f in attrs.fields(entry.cls.Options)}
        value = structure({k: data[k] for k in mine if k in data}, entry.cls.Options, what=f"{names[kind]} option")
        options.update(converter.unstructure(value))
    for key in data:
        if key in options:
            continue
        if key in declared:  # an option of an installed plugin this config does not select
            owner = declared[key]
            raise UserError(
                f"config key {key!r} is an option of the {what(owner.kind)} {owner.name!r}, which this config "
                "does not select "
                f"({PLUGIN_KEYS[owner.kind]} is {names[owner.kind]!r})",
                f"select it ({PLUGIN_KEYS[owner.kind]}: {owner.name!r}) or remove {key!r}",
            )
        raise unknown_key(key, set(CORE_KEYS) | set(declared))
    return attrs.evolve(core, options=options, selected=selected)


def resolved(given: Config | dict, registry=None) -> Config:
    """given as a resolved Config: a dict of config keys, or a Config made directly (`Config(n_layers=2)`)."""
    if isinstance(given, Config):
        return given if given.selected else config(to_dict(given), registry)
    if isinstance(given, dict):
        return config(given, registry)
    raise UserError(
        f"config must be a Config or a dict of config keys, got {shown(given)}", "for example {'n_layers': 2}"
    )


def build_model(given: Config | dict, vocab_size: int, registry=None, initialize: bool = True) -> GPT:
    """A freshly initialised model for `given` (a Config or a plain dict of config keys); initialize=False
    leaves its parameters at zero, for a caller that fills every one (a model file's)."""
    given = resolved(given, registry)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise UserError(
            f"vocab_size must be a whole number >= 1, got {shown(vocab_size)}", "the tokenizer's vocab_size"
        )
    return GPT(given, vocab_size, initialize=initialize)


def tokenizer_class(name, source: str, registry=None) -> type:
    """The tokenizer a file names (none: char, as the original notebook's files), from the installed plugins."""
    if not isinstance(name, str):
        raise UserError(f"{source} names its tokenizer with {shown(name)}, not a string", "fix or regenerate the file")
    return (registry or default_registry()).resolve("tokenizer", name).cls


def tokenizer(data, source: str = "tokenizer", registry=None) -> Tokenizer:
    """A tokenizer from a file's JSON, by the name recorded in it."""
    name = data.get("tokenizer", DEFAULT) if isinstance(data, dict) else DEFAULT
    return tokenizer_class(name, source, registry).from_dict(data, source)
