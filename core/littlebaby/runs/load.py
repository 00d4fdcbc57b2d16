"""Using a trained run: load its config, tokenizer and model; generate text from it.

    config, tokenizer, model = littlebaby.load("last")
    print(littlebaby.generate("last", prompt="ROMEO:", max_tokens=200, seed=1))

Errors name the Python parameters (`max_tokens`, `temperature`); the CLI
turns them into its flags.
"""

import math
from typing import NamedTuple

import numpy as np

from littlebaby import config as configs
from littlebaby.store import weights as checkpoint
from littlebaby.store import checkpoints
from littlebaby.store import home as files
from littlebaby.system import memory
from littlebaby.system import reading
from littlebaby.text import tokenizer as tokenizers
from littlebaby.errors import UserError
from littlebaby.nn.generation import generate as generate_ids
from littlebaby.system.reading import shown
from littlebaby.text.tokenizer import Tokenizer


class Loaded(NamedTuple):
    """What `load` returns: unpack as `config, tokenizer, model = littlebaby.load("last")`."""

    config: configs.Config
    tokenizer: Tokenizer
    model: object


def load(run: str = "last", home=".", registry=None) -> Loaded:
    """(config, tokenizer, model) of a run in the home; run is a run name or "last"."""
    home = files.Home(home)
    return load_named(home, home.resolve(run), registry)


def load_tokenizer(home: files.Home, name: str, registry=None) -> Tokenizer:
    path = home.tokenizer(name)
    return tokenizers.from_file(reading.read_json(path, "tokenizer file"), f"tokenizer file {path}", registry)


def model_file(home: files.Home, name: str):
    """The run's model file; for a run stopped before writing one (killed), its newest checkpoint's model."""
    path = home.model(name)
    if path.exists() or path.is_symlink():
        return path
    saved = checkpoints.newest(home.checkpoints(name))
    broken = checkpoints.why_broken(home.checkpoints(name)) if saved is None else None
    if broken:
        raise UserError(f"run {name} has no model file and no intact checkpoint (newest {broken})", "restore one, or give another run's name")
    if saved is None and home.config(name).exists():
        raise UserError(f"run {name} has no model yet: it has not reached its first checkpoint",
                        "wait for it (checkpoint_interval steps), or give another run's name")
    return saved.model if saved is not None else path


def load_named(home: files.Home, name: str, registry=None) -> Loaded:
    """The run called exactly `name` (already resolved) in home."""
    tokenizer = load_tokenizer(home, name, registry)
    model = checkpoint.load_model(model_file(home, name), registry, vocab_size=tokenizer.vocab_size)
    return Loaded(model.config, tokenizer, model)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sampling(max_tokens, temperature, top_k, seed=None):
    """A UserError naming the parameter for a value sampling cannot use."""
    if not _whole(max_tokens) or max_tokens < 0:
        raise UserError(f"max_tokens must be a whole number >= 0, got {shown(max_tokens)}", "for example max_tokens=200")
    # every token is held until the text is saved: a count no memory holds would sample for ever, then fail
    memory.require([("the generated tokens", max_tokens * memory.BYTES_PER_GENERATED_TOKEN, "max_tokens")],
                   "generating this many tokens")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature < math.inf:
        raise UserError(f"temperature must be a finite number >= 0, got {shown(temperature)}", "0 is greedy, 1 samples the model as is")
    if not _whole(top_k) or not 0 <= top_k < configs.INT_LIMIT:
        raise UserError(f"top_k must be a whole number in [0, 2**63), got {shown(top_k)}", "0 keeps every token")
    if seed is not None and (not _whole(seed) or not 0 <= seed < configs.INT_LIMIT):  # as the config's seed
        raise UserError(f"seed must be a whole number in [0, 2**63), got {shown(seed)}", "for example seed=1")


def generate(
    run="last",
    prompt: str | None = None,
    max_tokens: int = 500,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
    cache: bool = True,
    home=".",
    on_text=None,
    write: bool = True,
    registry=None,
) -> str:
    """Sample from a run ("last", a run name, or a `load` result); returns prompt + completion.

    on_text(str) receives the prompt, then the text of each token as it is sampled; with write, the text is
    also saved as outputs/completion_<run>_<yyyymmddhhmmss>.txt.
    """
    check_sampling(max_tokens, temperature, top_k, seed)
    if prompt is not None:
        reading.given_text(prompt, "prompt")
    home = files.Home(home)
    if isinstance(run, Loaded):
        name, (config, tokenizer, model) = None, run
    else:
        name = home.resolve(run)
        config, tokenizer, model = load_named(home, name, registry)
    ids = tokenizer.encode(prompt) if prompt else np.array([tokenizer.start_id()])
    if write and name is not None:
        try:
            home.check_writable()
        except UserError as error:  # runs shared read-only can still be sampled, without the file
            fix = error.fix or "pass a writable directory as home=DIR"
            raise UserError(error.problem, f"{fix}, or write=False to print the text without saving it") from None
    stream = tokenizer.stream_decoder()  # a character split over two bpe tokens is written once whole
    decode = (lambda token: on_text(stream(token))) if on_text else None
    if on_text and prompt:
        on_text(prompt)
    out = generate_ids(model, ids, max_tokens, temperature, top_k, np.random.default_rng(seed), cache, on_token=decode)
    if on_text:
        on_text(stream(None))
    completion = (prompt or "") + tokenizer.decode(out)
    if write and name is not None:
        files.write_text(home.completion(name, files.timestamp()), completion)
    return completion
