"""The run config: one attrs class, (un)structured with cattrs, JSON on disk.

Keys keep the original notebook's names (`n_ctx`, `n_emb`, `head_size`, ...), so a config it wrote
loads as is. Plugins declare their own keys (moe's `n_experts`) as an attrs `Options` class on the
block; they sit flat beside the core keys in the JSON file and are validated the same way.

Every mistake becomes a one-line `UserError`: unknown keys (with the closest name), wrong types,
out-of-range values. cattrs would report an attrs validator's error raised in `__init__` as a bare
"invalid value @ $", so `_format_exception` keeps the validator's own message.
"""

import difflib
import math

import attrs
import cattrs
from cattrs.v import format_exception as cattrs_format_exception

from littlebaby.errors import UserError, shown


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


def _schedule(instance, attribute, value):
    if value not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {value!r}")


SCHEDULES = ("cosine", "wsd")


def _divides_head_size(instance, attribute, value):
    positive(instance, attribute, value)
    if instance.head_size % value != 0:
        raise ValueError(f"n_heads must divide head_size (head_size % n_heads = {instance.head_size} % {value} != 0)")


def _decays_less_than_the_weights(instance, attribute, value):
    non_negative(instance, attribute, value)
    # decoupled decay multiplies every weight by 1 - lr * weight_decay each step: at 1 or more it
    # zeroes, flips or grows them, and the run diverges as if lr alone were too high
    if instance.lr * value >= 1:
        raise ValueError(
            f"lr * weight_decay must be below 1 (each step multiplies the weights by 1 - lr * weight_decay), "
            f"got {instance.lr:g} * {value:g}"
        )


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
    # how tokens know where they are: "learned" (a table added to the token embeddings, wpe), "rope" (q and k
    # rotated in every attention), "none"; without a learned table generation slides its KV cache past n_ctx
    c_position: str = attrs.field(default="learned", metadata=ARCHITECTURE)
    c_network: str = attrs.field(default="mlp", metadata=ARCHITECTURE)  # "mlp", or "moe" (dense mixture of experts)
    c_tokenizer: str = attrs.field(
        default="char", metadata=ARCHITECTURE
    )  # "char", or "bpe" (byte-level BPE): fixes the vocabulary
    # how the parameters move: "adamw", or an installed optimizer plugin ("muon"); fixed on resume (its state
    # is the run's), free for a finetune, which starts a fresh one
    c_optimizer: str = "adamw"
    n_ctx: int = attrs.field(default=64, validator=positive, metadata=ARCHITECTURE)  # context length in tokens
    n_emb: int = attrs.field(default=128, validator=positive, metadata=ARCHITECTURE)  # embedding width
    head_size: int = attrs.field(
        default=128, validator=positive, metadata=ARCHITECTURE
    )  # total width of q, k, v over all heads
    n_heads: int = attrs.field(default=4, validator=_divides_head_size, metadata=ARCHITECTURE)
    n_layers: int = attrs.field(default=4, validator=positive, metadata=ARCHITECTURE)
    # what model families differ in (the defaults are littlebaby's own): biases of the blocks' linear layers
    # and the head (false: none, as Llama), biases of q, k and v (GPT-2: true), a head that is the token
    # embedding transposed (GPT-2, and many small models), the norms' eps (added to the variance)
    bias: bool = attrs.field(default=True, metadata=ARCHITECTURE)
    qkv_bias: bool = attrs.field(default=False, metadata=ARCHITECTURE)
    tie_embeddings: bool = attrs.field(default=False, metadata=ARCHITECTURE)
    norm_eps: float = attrs.field(default=1e-5, validator=[positive, attrs.validators.le(1.0)], metadata=ARCHITECTURE)
    # q and k of every head RMS-normalised (no gain) before their scores (the speedrun's QK-norm); eps norm_eps
    qk_norm: bool = attrs.field(default=False, metadata=ARCHITECTURE)
    # logits squashed to (-c, c) by c * tanh(logits / c) (Gemma 2, the speedrun); 0: left as they are
    logit_softcap: float = attrs.field(default=0.0, validator=non_negative, metadata=ARCHITECTURE)
    dropout: float = attrs.field(default=0.0, validator=probability)
    # training
    num_epochs: int = attrs.field(default=1, validator=positive)  # passes over the train text
    batch_size: int = attrs.field(default=32, validator=positive)  # global: split over MPI processes
    grad_accum_steps: int = attrs.field(default=1, validator=positive)  # micro-batches per step, same result
    lr: float = attrs.field(default=3e-3, validator=positive)  # peak learning rate
    min_lr: float = attrs.field(default=3e-4, validator=non_negative)  # end of the cosine decay (at most lr)
    warmup_steps: int = attrs.field(default=100, validator=non_negative)  # linear warmup from 0
    # after warmup: "cosine" down to min_lr, or "wsd" (warmup-stable-decay): lr until the last `cooldown`
    # fraction of the steps, then a straight line down to min_lr
    schedule: str = attrs.field(default="cosine", validator=_schedule)
    cooldown: float = attrs.field(default=0.2, validator=probability)
    max_steps: int = attrs.field(default=0, validator=non_negative)  # cap on steps; 0 = no cap
    weight_decay: float = attrs.field(default=0.1, validator=_decays_less_than_the_weights)  # decoupled, matrices only
    beta1: float = attrs.field(default=0.9, validator=probability)
    beta2: float = attrs.field(default=0.99, validator=probability)
    grad_clip: float = attrs.field(default=1.0, validator=non_negative)  # global norm; 0 = off
    zero_init_residual: bool = False  # projections into the residual stream start at zero (the speedrun's)
    init_std: float = attrs.field(
        default=0.02, validator=[positive, attrs.validators.le(1.0)]
    )  # GPT-2's 0.02; above 1 overflows
    eval_interval: int = attrs.field(default=100, validator=positive)  # steps between val losses
    # fixed, seeded val windows; 0: the whole val split in consecutive windows (every val token once)
    eval_windows: int = attrs.field(default=256, validator=non_negative)
    # steps between checkpoints (0 = only at the end and at a stop): 250 loses at most a few minutes of
    # baby-large, while a checkpoint (3 x the parameters' bytes, written once) costs far less than 250 steps
    checkpoint_interval: int = attrs.field(default=250, validator=non_negative)
    seed: int = attrs.field(default=0, validator=non_negative)  # 0 <= seed < 2**63 (numpy takes no negative seeds)
    dtype: str = attrs.field(default="float32", validator=_dtype, metadata=ARCHITECTURE)
    threads: int = attrs.field(default=0, validator=non_negative)  # batch split; 0 = one per core
    # each MPI process updates its part of the parameters and keeps the optimizer's state for it alone
    # (ZeRO stage 1: docs/distributed.md); the same run to float rounding, for an elementwise optimizer (adamw)
    shard_optimizer: bool = False
    # seconds a process waits in a collective for the others before the job ends naming the late ones (a
    # stopped rank, a hung machine); 0: 10 x the median of the recent steps, at least 60 (docs/reliability.md)
    rank_timeout: float = attrs.field(default=0.0, validator=non_negative)
    # plugin keys (e.g. n_experts), flat in the file; validated by `resolve`
    options: dict = attrs.field(factory=dict)
    # the plugins it selects, kind -> registry Entry (name, class, distribution): filled when the config is
    # resolved against the installed plugins (plugins/resolve.py); never written to a file, never compared
    selected: dict = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def pos_emb(self) -> bool:
        """Whether the model adds a learned position table (wpe) to the token embeddings."""
        cls = self.chosen("position")
        return cls.absolute(self, block_options(self, cls))

    @property
    def d_k(self) -> int:
        """Width of one head."""
        return self.head_size // self.n_heads

    def chosen(self, kind: str) -> type:
        """The class this config selects for `kind` (a key of PLUGIN_KEYS)."""
        entry = self.selected.get(kind)
        if entry is None:
            raise TypeError(
                "this Config names its plugins but was not resolved: make it with littlebaby.plugins.resolve.config"
            )
        return entry.cls


CORE_KEYS = tuple(f.name for f in attrs.fields(Config) if f.name not in ("options", "selected"))


def architecture_keys() -> tuple[str, ...]:
    """The keys marked architecture: fixed once a run exists (its recipe may change)."""
    return tuple(f.name for f in attrs.fields(Config) if f.metadata.get("architecture"))


BLOCK_KEYS = {"sequence": "c_sequence", "attention": "c_attention", "network": "c_network", "position": "c_position"}
PLUGIN_KEYS = {
    **BLOCK_KEYS,
    "tokenizer": "c_tokenizer",
    "optimizer": "c_optimizer",
}  # every plugin kind a config selects


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
        raise UserError(
            f"bad {what} value: {'; '.join(lines)}", "fix the value in the config or override it ({key=}value)", "key"
        ) from None


def migrate(data: dict) -> dict:
    """A config dict in today's keys. Runs made before positions were a plugin kind said `pos_emb` (a learned
    table or not) and `c_attention: "rope"` (mha with q and k rotated): both mean a `c_position` now, with the
    same parameters and the same logits. Giving `pos_emb` beside a `c_position` it contradicts is an error."""
    if "pos_emb" not in data and data.get("c_attention") != "rope":
        return data
    data = dict(data)
    table = data.pop("pos_emb", True)
    if not isinstance(table, bool):
        raise UserError(f"bad config value: pos_emb: expected true or false, got {shown(table)}", "use c_position")
    if data.get("c_attention") == "rope":  # the rope attention was mha rotating q and k: a position plugin now
        data["c_attention"] = "mha"
        wanted = "rope"
        if table:
            data["rope_with_wpe"] = True
    else:
        wanted = "learned" if table else "none"
    given = data.setdefault("c_position", wanted)
    if given != wanted and not (given == "rope" and not table):
        raise UserError(
            f"pos_emb {str(table).lower()} contradicts c_position {shown(given)}",
            'pos_emb is the old name of c_position ("learned", "rope" or "none"): give c_position alone',
            "c_position",
        )
    return data


def unknown_key(key: str, known) -> UserError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
    return UserError(f"unknown config key {key!r}", hint)


def to_dict(config: Config) -> dict:
    """The flat dict written to disk: core keys, then plugin keys."""
    return {**{key: getattr(config, key) for key in CORE_KEYS}, **config.options}


def block_options(config: Config, cls):
    """The structured `Options` of one block class (None when it declares none)."""
    if getattr(cls, "Options", None) is None:
        return None
    mine = {f.name for f in attrs.fields(cls.Options)}
    return structure({k: v for k, v in config.options.items() if k in mine}, cls.Options)
