"""Generating text from a run: a prompt, sampling settings, the completion streamed and saved.

print(littlebaby.generate("last", prompt="ROMEO:", max_tokens=200, seed=1))
"""

import math

import numpy as np

from littlebaby.config import INT_LIMIT
from littlebaby.errors import UserError, shown
from littlebaby.nn.generation import generate as generate_ids
from littlebaby.runs.load import Loaded, load_named
from littlebaby.store.home import Home, timestamp
from littlebaby.system import arguments, atomic, memory


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sampling(max_tokens, temperature, top_k, seed=None):
    """A UserError naming the parameter for a value sampling cannot use."""
    if not _whole(max_tokens) or max_tokens < 0:
        raise UserError(
            f"{{max_tokens}} must be a whole number >= 0, got {shown(max_tokens)}",
            "for example {max_tokens=}200",
            "max_tokens",
        )
    # every token is held until the text is saved: a count no memory holds would sample for ever, then fail
    memory.require(
        [("the generated tokens", max_tokens * memory.BYTES_PER_GENERATED_TOKEN, ("max_tokens",))],
        "generating this many tokens",
    )
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature < math.inf:
        raise UserError(
            f"{{temperature}} must be a finite number >= 0, got {shown(temperature)}",
            "0 is greedy, 1 samples the model as is",
            "temperature",
        )
    if not _whole(top_k) or not 0 <= top_k < INT_LIMIT:
        raise UserError(
            f"{{top_k}} must be a whole number in [0, 2**63), got {shown(top_k)}", "0 keeps every token", "top_k"
        )
    if seed is not None and (not _whole(seed) or not 0 <= seed < INT_LIMIT):  # as the config's seed
        raise UserError(
            f"{{seed}} must be a whole number in [0, 2**63), got {shown(seed)}", "for example {seed=}1", "seed"
        )


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
    name: str | None = None,
    stop_at_eos: bool = True,
) -> str:
    """Sample from a run ("last", a run name, or a `load` result); returns prompt + completion.

    on_text(str) receives the prompt, then the text of each token as it is sampled; with write, the text is
    also saved as outputs/completion_<run>_<yyyymmddhhmmss>.txt (for a `load` result, under `name` when given).
    stop_at_eos: end at the vocabulary's end-of-text token (an imported model's `<|endoftext|>`), where it has one.
    """
    check_sampling(max_tokens, temperature, top_k, seed)
    if prompt is not None:
        arguments.given_text(prompt, "prompt")
    home = Home(home)
    if isinstance(run, Loaded):
        config, tokenizer, model = run
    else:
        name = home.resolve(run)
        config, tokenizer, model = load_named(home, name)
    ids = tokenizer.encode(prompt) if prompt else np.array([tokenizer.start_id()])
    if write and name is not None:
        try:
            home.check_writable()
        except UserError as error:  # runs shared read-only can still be sampled, without the file
            fix = error.raw_fix or "pass a writable directory as {home=}DIR"
            raise UserError(
                error.raw_problem,
                f"{fix}, or {{write=False}} to print the text without saving it",
                (*error.keys, "home", "write=False"),
            ) from None
    stream = tokenizer.stream_decoder()  # a character split over two bpe tokens is written once whole
    decode = (lambda token: on_text(stream(token))) if on_text else None
    if on_text and prompt:
        on_text(prompt)
    stop = tokenizer.end_id if stop_at_eos else None
    rng = np.random.default_rng(seed)
    out = generate_ids(model, ids, max_tokens, temperature, top_k, rng, cache, on_token=decode, stop_id=stop)
    if on_text:
        on_text(stream(None))
    completion = (prompt or "") + tokenizer.decode(out)
    if write and name is not None:
        atomic.write_text(home.completion(name, timestamp()), completion)
    return completion
