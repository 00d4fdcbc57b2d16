"""What train, resume and finetune share before a session starts: a config's recipe, the memory check,
the home as each MPI rank sees it, and the run's first files.

Each command validates everything it can (config, data, run names, home) BEFORE it creates a file, so a
mistake leaves nothing behind; then it reserves the run's name and writes its files atomically.
"""

import contextlib
import json

import attrs

from littlebaby.config import architecture_keys, to_dict
from littlebaby.configs import with_overrides
from littlebaby.errors import UserError, shown
from littlebaby.nn import sizes
from littlebaby.nn.gpt import GPT
from littlebaby.plugins import resolve
from littlebaby.runs.probe import probe
from littlebaby.store.home import Home, new_guid
from littlebaby.system import atomic, memory
from littlebaby.text import tokenizer as tokenizers
from littlebaby.text.batches import Epochs
from littlebaby.training import distributed, sharding
from littlebaby.training.step import workers


def _optimizer_options(config) -> set:
    """The config keys of the optimizer a config selects (recipe, not architecture: they may change)."""
    options = config.chosen("optimizer").Options
    return {field.name for field in attrs.fields(options)} if options is not None else set()


def recipe_config(config, overrides):
    """config with training overrides applied; architecture keys (and the blocks' options) may not change.
    Another optimizer (a finetune's) leaves the old one's options behind."""
    base, wanted = to_dict(config), with_overrides({}, overrides)
    if wanted.get("c_optimizer", config.c_optimizer) != config.c_optimizer:
        base = {key: value for key, value in base.items() if key not in _optimizer_options(config)}
    cfg = resolve.config({**base, **wanted})
    changed = [k for k in architecture_keys() if getattr(cfg, k) != getattr(config, k)]
    mine, theirs = _optimizer_options(cfg), _optimizer_options(config)
    blocks = {k: v for k, v in cfg.options.items() if k not in mine}
    if changed or blocks != {k: v for k, v in config.options.items() if k not in theirs}:
        keys = ", ".join(changed) or "plugin options"
        raise UserError(f"cannot change {keys} of an existing run", "train a new run instead")
    return cfg


def rebuilt(model, cfg):
    """The same parameters in a model built from cfg (same architecture, other recipe)."""
    twin = GPT(cfg, model.vocab_size)
    twin.parameters.data[...] = model.parameters.data
    return twin


def check_model(model, train_ids):
    """Refuse, before any file is written, a batch that cannot fit in memory (the model was checked when built),
    or blocks that fail on a first tiny batch (probe.py)."""
    cfg = model.config
    sharding.check(cfg)
    batch = Epochs(train_ids, cfg.n_ctx, cfg.batch_size, cfg.seed).batch_size
    memory.require(sizes.training_needs(model, batch, workers(model, batch)), "training this model")
    probe(model)


class FollowerHome(Home):
    """The home as MPI ranks other than 0 see it: they read run files and write none (rank 0
    checks, reserves, locks, cleans and writes; its errors reach them through `world.agree`)."""

    def check_writable(self):
        pass

    def reserve_run(self, name: str) -> bool:
        return not self.model(name).exists()  # claims nothing: the name is rank 0's to claim

    @contextlib.contextmanager
    def training_lock(self, run: str, patience: float = 0.0):
        yield


def training_home(path) -> Home:
    """The home a train, resume or finetune works in: a FollowerHome on MPI ranks but 0."""
    return Home(path) if distributed.world().is_root else FollowerHome(path)


@contextlib.contextmanager
def creating(home, name: str):
    """Around the first writes of a run whose name was just reserved: if they fail, what they wrote goes, and
    the reservation (its config file) too, so that no ghost run is listed."""
    try:
        yield
    except BaseException:
        if not isinstance(home, FollowerHome):
            home.forget_new_run(name)
        raise


def new_run(home) -> str:
    """A fresh run name, reserved (a uuid4 does not collide; reserving makes that a fact)."""
    name = new_guid()
    while not home.reserve_run(name):
        name = new_guid()
    return name


LABEL_LIMIT = 80  # characters of a run's readable name: a column of `runs`, a legend, a title


def run_label(given, made: str) -> str:
    """A run's readable name: the one given (`name=`), or the one made from what it was trained with."""
    if given is None:
        return made if len(made) <= LABEL_LIMIT else made[: LABEL_LIMIT - 3] + "..."
    if not isinstance(given, str) or not given.strip() or len(given) > LABEL_LIMIT or not given.isprintable():
        raise UserError(
            f"{{name}} must be a text of 1 to {LABEL_LIMIT} printable characters, got {shown(given)}",
            "for example {name=}'baby with a higher lr'",
            "name",
        )
    return given.strip()


def made_label(config_name: str, overrides: dict) -> str:
    """'baby' or 'baby lr=0.002 max_steps=300': the config and what the user changed of it."""
    changed = (f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in overrides.items())
    return " ".join([config_name, *changed])


def write_run_files(home, name, cfg, tokenizer=None) -> list:
    """Write the config (and tokenizer) of a run; returns the paths written (none on MPI ranks but 0)."""
    if isinstance(home, FollowerHome):
        return []
    written = [home.config(name)]
    atomic.write_json(written[0], to_dict(cfg))
    if tokenizer is not None:
        written.append(home.tokenizer(name))
        atomic.write_json(written[1], tokenizers.to_file(tokenizer))
    return written
