"""The run config: one attrs class, (un)structured with cattrs, JSON on disk.

Keys keep the original notebook's names (`n_ctx`, `n_emb`, `head_size`, ...), so a config it wrote
loads as is. Plugins declare their own keys (moe's `n_experts`) as an attrs `Options` class on the
block; they sit flat beside the core keys in the JSON file and are validated the same way.

Every mistake becomes a one-line `UserError`: unknown keys (with the closest name), wrong types,
out-of-range values. cattrs would report an attrs validator's error raised in `__init__` as a bare
"invalid value @ $", so `_format_exception` keeps the validator's own message.
"""

import difflib
import importlib.resources
import json
import math
import os
from pathlib import Path

import attrs
import cattrs
from cattrs.v import format_exception as cattrs_format_exception

from littlebaby.system import reading
from littlebaby.system.reading import shown
from littlebaby.errors import UserError


# `not 0 < value < inf`: NaN (false in every comparison) and infinity fail too
def positive(instance, attribute, value):
    if not 0 < value < math.inf:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def non_negative(instance, attribute, value):
    if not 0 <= value < math.inf:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def probability(instance, attribute, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1), got {value}")


def _divides_head_size(instance, attribute, value):
    positive(instance, attribute, value)
    if instance.head_size % value != 0:
        raise ValueError(
            f"n_heads must divide head_size (head_size % n_heads = {instance.head_size} % {value} != 0)"
        )


def _decays_less_than_the_weights(instance, attribute, value):
    non_negative(instance, attribute, value)
    # decoupled decay multiplies every weight by 1 - lr * weight_decay each step: at 1 or more it
    # zeroes, flips or grows them, and the run diverges as if lr alone were too high
    if instance.lr * value >= 1:
        raise ValueError(f"lr * weight_decay must be below 1 (each step multiplies the weights by 1 - lr * weight_decay), "
                         f"got {instance.lr:g} * {value:g}")


def _dtype(instance, attribute, value):
    if value not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {value!r}")


# fields that fix the parameters' shapes or meaning: they cannot change once a run exists
ARCHITECTURE = {"architecture": True}


@attrs.frozen(kw_only=True)
class Config:
    """Architecture and training recipe of one run. Every key has a default."""

    # architecture: blocks by plugin name, sizes
    c_sequence: str = attrs.field(default="pre", metadata=ARCHITECTURE)  # where the LayerNorms sit: "pre" or "post"
    c_attention: str = attrs.field(default="mha", metadata=ARCHITECTURE)  # "mha", or "moh" (mixture of heads)
    c_network: str = attrs.field(default="mlp", metadata=ARCHITECTURE)  # "mlp", or "moe" (dense mixture of experts)
    c_tokenizer: str = attrs.field(default="char", metadata=ARCHITECTURE)  # "char", or "bpe" (byte-level BPE): fixes the vocabulary
    n_ctx: int = attrs.field(default=64, validator=positive, metadata=ARCHITECTURE)  # context length in tokens
    n_emb: int = attrs.field(default=128, validator=positive, metadata=ARCHITECTURE)  # embedding width
    head_size: int = attrs.field(default=128, validator=positive, metadata=ARCHITECTURE)  # total width of q, k, v over all heads
    n_heads: int = attrs.field(default=4, validator=_divides_head_size, metadata=ARCHITECTURE)
    n_layers: int = attrs.field(default=4, validator=positive, metadata=ARCHITECTURE)
    # learned absolute positions (wpe); false for a model that positions itself (rope) or not at all,
    # which also lets generation slide its KV cache past n_ctx instead of refilling it
    pos_emb: bool = attrs.field(default=True, metadata=ARCHITECTURE)
    dropout: float = attrs.field(default=0.0, validator=probability)
    # training
    num_epochs: int = attrs.field(default=1, validator=positive)  # passes over the train text
    batch_size: int = attrs.field(default=32, validator=positive)  # global: split over MPI processes
    grad_accum_steps: int = attrs.field(default=1, validator=positive)  # micro-batches per step, same result
    lr: float = attrs.field(default=3e-3, validator=positive)  # peak learning rate
    min_lr: float = attrs.field(default=3e-4, validator=non_negative)  # end of the cosine decay (at most lr)
    warmup_steps: int = attrs.field(default=100, validator=non_negative)  # linear warmup from 0
    max_steps: int = attrs.field(default=0, validator=non_negative)  # cap on steps; 0 = no cap
    weight_decay: float = attrs.field(default=0.1, validator=_decays_less_than_the_weights)  # decoupled, matrices only
    beta1: float = attrs.field(default=0.9, validator=probability)
    beta2: float = attrs.field(default=0.99, validator=probability)
    grad_clip: float = attrs.field(default=1.0, validator=non_negative)  # global norm; 0 = off
    init_std: float = attrs.field(default=0.02, validator=[positive, attrs.validators.le(1.0)])  # GPT-2's 0.02; above 1 overflows
    eval_interval: int = attrs.field(default=100, validator=positive)  # steps between val losses
    eval_windows: int = attrs.field(default=256, validator=positive)  # fixed, seeded val windows
    # steps between checkpoints (0 = only at the end and at a stop): 250 loses at most a few minutes of
    # baby-large, while a checkpoint (3 x the parameters' bytes, written once) costs far less than 250 steps
    checkpoint_interval: int = attrs.field(default=250, validator=non_negative)
    seed: int = attrs.field(default=0, validator=non_negative)  # 0 <= seed < 2**63 (numpy takes no negative seeds)
    dtype: str = attrs.field(default="float32", validator=_dtype, metadata=ARCHITECTURE)
    threads: int = attrs.field(default=0, validator=non_negative)  # batch split; 0 = one per core
    # plugin keys (e.g. n_experts), flat in the file; validated by `resolve`
    options: dict = attrs.field(factory=dict)

    @property
    def d_k(self) -> int:
        """Width of one head."""
        return self.head_size // self.n_heads


CORE_KEYS = tuple(f.name for f in attrs.fields(Config) if f.name != "options")


def architecture_keys() -> tuple[str, ...]:
    """The keys marked architecture: fixed once a run exists (its recipe may change)."""
    return tuple(f.name for f in attrs.fields(Config) if f.metadata.get("architecture"))


BLOCK_KEYS = {"sequence": "c_sequence", "attention": "c_attention", "network": "c_network"}
PLUGIN_KEYS = {**BLOCK_KEYS, "tokenizer": "c_tokenizer"}  # every plugin kind a config selects


INT_LIMIT = 2**63  # every int key, seed included, fits numpy's int64 and converts to a float


def _strict_int(value, _type):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {shown(value)}")
    if not -INT_LIMIT <= value < INT_LIMIT:  # 10**400 steps would overflow the schedule's float math
        raise ValueError(f"expected an integer below 2**63, got {shown(value)}")
    return value


def _strict_float(value, _type):
    """Every float key, core and plugin alike: a finite number (NaN and infinity train nothing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond a float's range
        raise ValueError(f"expected a finite number, got {shown(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value}")
    return number


def _exactly(kind: type, words: str):
    """A structure hook taking only values of `kind` (cattrs would turn 1 into "1" or True)."""
    def hook(value, _type):
        if not isinstance(value, kind):
            raise TypeError(f"expected {words}, got {shown(value)}")
        return value
    return hook


converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(float, _strict_float)
converter.register_structure_hook(str, _exactly(str, "a string"))
converter.register_structure_hook(bool, _exactly(bool, "true or false"))


def _format_exception(exc: BaseException, type_) -> str:
    # the message of our validators and type hooks: cattrs' default says only "invalid value"
    if isinstance(exc, (ValueError, TypeError)) and str(exc):
        return str(exc)
    return cattrs_format_exception(exc, type_)


def structure(data: dict, cls, what: str = "config"):
    """`cattrs` structuring with one readable line instead of an exception group."""
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as error:
        messages = cattrs.transform_error(error, path="", format_exception=_format_exception)
        lines = []
        for message in messages:
            text, _, path = message.rpartition(" @ ")
            key = path.lstrip(".")
            lines.append(f"{key}: {text}" if key else text)
        raise UserError(f"bad {what} value: {'; '.join(lines)}", "fix the value in the config or override it (key=value)") from None


def _unknown_key(key: str, known) -> UserError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
    return UserError(f"unknown config key {key!r}", hint)


def from_dict(data: dict, registry=None) -> Config:
    """Build and validate a Config from a flat dict (a JSON file, --set values).

    Plugin keys are checked against the selected blocks' `Options`; a key of a
    block the config does not select is an error naming that block, and a key
    that no installed plugin declares is an error with the closest known name.
    """
    from littlebaby.plugins.registry import default_registry

    if not isinstance(data, dict):
        raise UserError("a config must be a JSON object of key: value pairs", "see the shipped baby config (littlebaby/configs/baby.json)")
    registry = registry or default_registry()
    data = dict(data)
    core = {k: data.pop(k) for k in list(data) if k in CORE_KEYS}
    config = structure(core, Config)
    names = {kind: getattr(config, key) for kind, key in PLUGIN_KEYS.items()}
    selected = {kind: registry.resolve(kind, names[kind]).cls.Options for kind in PLUGIN_KEYS}
    declared = registry.declared_options()
    options = {}
    for kind, cls in selected.items():
        if cls is None:
            continue
        mine = {f.name for f in attrs.fields(cls)}
        value = structure({k: data[k] for k in mine if k in data}, cls, what=f"{names[kind]} option")
        options.update(converter.unstructure(value))
    for key in data:
        if key in options:
            continue
        if key in declared:  # an option of an installed block this config does not select
            owner = declared[key]
            raise UserError(
                f"config key {key!r} is an option of the {owner.kind} block {owner.name!r}, which this config does not select "
                f"({PLUGIN_KEYS[owner.kind]} is {names[owner.kind]!r})",
                f"select it ({PLUGIN_KEYS[owner.kind]}: {owner.name!r}) or remove {key!r}",
            )
        raise _unknown_key(key, set(CORE_KEYS) | set(declared))
    return attrs.evolve(config, options=options)


def to_dict(config: Config) -> dict:
    """The flat dict written to disk: core keys, then plugin keys."""
    data = converter.unstructure(config)
    options = data.pop("options")
    data.update(options)
    return data


def block_options(config: Config, cls):
    """The structured `Options` of one block class (None when it declares none)."""
    if getattr(cls, "Options", None) is None:
        return None
    mine = {f.name for f in attrs.fields(cls.Options)}
    return structure({k: v for k, v in config.options.items() if k in mine}, cls.Options)


def parse_override(text: str):
    """`key=value` from the command line; the value is read as JSON when it can be."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UserError(f"an override must look like key=value, got {text!r}", "for example n_layers=2")
    try:
        value = json.loads(raw)  # NaN and 1e999 parse here, so the key's check can name them
    except (ValueError, RecursionError):
        value = raw
    return key.strip(), value


def load_file(path) -> dict:
    """A config JSON file as a dict, or a one-line error."""
    data = reading.read_json(path, "config file", unique_keys=True)  # written by hand: a key twice is a slip
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a JSON object", "see the shipped baby config (littlebaby/configs/baby.json)")
    return data


# -- finding a config: a shipped name or a JSON file, plus overrides ------------------
def shipped_configs() -> list[str]:
    folder = importlib.resources.files("littlebaby.configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def config_dict(name_or_path: str) -> tuple[dict, str]:
    """(flat dict, display name) of a shipped config name or a JSON file path."""
    if not str(name_or_path).strip():  # Path("") is "." (the current folder): say what was given
        raise UserError("the config name is empty", f"give a shipped config ({', '.join(shipped_configs())}) or a JSON file path")
    reading.given_path(name_or_path, "config", "tiny")
    path = Path(name_or_path)
    resource = importlib.resources.files("littlebaby.configs").joinpath(f"{name_or_path}.json")
    # a bare name is a file here if one exists; a folder of that name (a home called `baby`, say)
    # does not hide the shipped config
    bare = path.suffix != ".json" and len(path.parts) == 1
    try:
        here = os.path.lexists(path) and not (path.is_dir() and resource.is_file())  # lexists: a broken link is named as one
    except OSError:  # a name the system cannot look up (too long): reading it says why, in one line
        here = True
    if not bare or here:
        return load_file(path), path.stem
    if not resource.is_file():
        raise UserError(f"no shipped config {name_or_path!r} (shipped: {', '.join(shipped_configs())})", "or pass a JSON file path")
    return json.loads(resource.read_text(encoding="utf-8")), name_or_path


def with_overrides(data: dict, overrides) -> dict:
    """data updated by overrides: a dict, or "key=value" strings (the CLI's --set)."""
    data = dict(data)
    if isinstance(overrides, dict):
        data.update(overrides)
    elif isinstance(overrides, (list, tuple)) and all(isinstance(item, str) for item in overrides):
        data.update(parse_override(item) for item in overrides)
    elif overrides is not None:  # a lone "lr=1" would be read a character at a time
        raise UserError(f"overrides must be a dict or a list of 'key=value' strings, got {shown(overrides)}",
                        "for example overrides={'max_steps': 200}")
    if not all(isinstance(key, str) for key in data):
        raise UserError(f"config keys are strings, got {shown(next(k for k in data if not isinstance(k, str)))}",
                        "for example overrides={'max_steps': 200}")
    return data
