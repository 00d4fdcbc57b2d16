"""Loading a run: its config, tokenizer and model, by name, `last` or a unique prefix.

config, tokenizer, model = littlebaby.load("last")
"""

from typing import NamedTuple

from littlebaby.config import Config
from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.store import checkpoints, weights
from littlebaby.store.home import Home
from littlebaby.system import reading
from littlebaby.text.tokenizer import Tokenizer


class Loaded(NamedTuple):
    """What `load` returns: unpack as `config, tokenizer, model = littlebaby.load("last")`."""

    config: Config
    tokenizer: Tokenizer
    model: object


def load(run: str = "last", home=".") -> Loaded:
    """(config, tokenizer, model) of a run in the home; run is a run name or "last"."""
    home = Home(home)
    return load_named(home, home.resolve(run))


def load_tokenizer(home: Home, name: str) -> Tokenizer:
    path = home.tokenizer(name)
    return resolve.tokenizer(reading.read_json(path, "tokenizer file"), f"tokenizer file {path}")


def model_file(home: Home, name: str):
    """The run's model file; for a run stopped before writing one (killed), its newest checkpoint's model."""
    path = home.model(name)
    if path.exists() or path.is_symlink():
        return path
    saved = checkpoints.newest(home.checkpoints(name))
    broken = checkpoints.why_broken(home.checkpoints(name)) if saved is None else None
    if broken:
        raise UserError(
            f"run {name} has no model file and no intact checkpoint (newest {broken})",
            "restore one, or give another run's name",
        )
    if saved is None and home.config(name).exists():
        raise UserError(
            f"run {name} has no model yet: it has not reached its first checkpoint",
            "wait for it (checkpoint_interval steps), or give another run's name",
        )
    return saved.model if saved is not None else path


def load_named(home: Home, name: str) -> Loaded:
    """The run called exactly `name` (already resolved) in home."""
    tokenizer = load_tokenizer(home, name)
    model = weights.load_model(model_file(home, name), vocab_size=tokenizer.vocab_size)
    return Loaded(model.config, tokenizer, model)
