"""How much memory a config needs, estimated before anything is allocated.

A config may ask for more than any machine holds (n_emb=10**9, n_layers=10**7,
batch_size=10**9). Allocating first would hang in the layer loop and then die
of MemoryError or the OOM killer, with files already written. So:

- the model counts its parameters before allocating them: a block declares its
  tensors' shapes in `__init__` and allocates nothing, so GPT builds one layer,
  counts it and checks `model_needs` before building the rest (model.py);
- training adds AdamW's buffers, one gradient buffer per thread and the
  activations of a batch, and is checked before the run's first file is written.

Parameters are counted exactly; activations roughly, per token and layer, from
the config's sizes. A block whose activations grow with its own options (moe's
experts) states its part with the classmethod `activation_floats(config, options)`
of the block contract (block.py).
The machine's side is MemAvailable from /proc/meminfo, capped by a cgroup v2
memory limit; where neither can be read nothing is refused.
"""

import math
import os
from pathlib import Path

import numpy as np

from littlebaby.config import block_options
from littlebaby.errors import UserError
from littlebaby.system.reading import describe_bytes

DATA_LIMIT = 4 << 30  # bytes of training text read into memory, at most
BYTES_PER_CHARACTER = 10  # text in memory: the file's bytes, the str, and an int64 id per character
# a generated token until its text is saved: its id in a list, the id's int, the decoded text (a
# byte-pair token is several characters, a character up to 4 bytes)
BYTES_PER_GENERATED_TOKEN = 64


def available(meminfo="/proc/meminfo", cgroup="/sys/fs/cgroup") -> int | None:
    """Bytes this process can still allocate, or None when the system does not say."""
    found = []
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:  # a container's own limit (cgroup v2), which MemAvailable does not see
        cgroup = Path(cgroup)
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int((cgroup / "memory.current").read_text()) + _reclaimable(cgroup))
    except (OSError, ValueError):
        pass
    if not found:
        try:  # other Unixes: free physical pages
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return None
    return max(0, min(found))


def _reclaimable(cgroup: Path) -> int:
    """Cached file pages the kernel drops before refusing memory: counted in memory.current (which
    can even exceed memory.max with them), free for the asking."""
    try:
        for line in (cgroup / "memory.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "inactive_file":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


# json.loads of '[[],[],...': an empty list (56 bytes) and its slot for every 3 bytes of text; numbers
# ('0.5,') cost 32 bytes per 4: a JSON file is refused when 24 times its size does not fit
JSON_BYTES_PER_BYTE = 24


JSON_FIX = f"parsing JSON takes up to {JSON_BYTES_PER_BYTE} times its size in memory; free some, or use a larger machine"


def json_limit(cap: int = DATA_LIMIT) -> int:
    """The largest JSON file parsed whole (the original notebook's model file, a run's report):
    cap, or less on a small machine."""
    room = available()
    return cap if room is None else min(cap, room // JSON_BYTES_PER_BYTE)


def data_limit() -> int:
    """The largest training text read into memory: DATA_LIMIT, or less on a small machine."""
    room = available()
    return DATA_LIMIT if room is None else min(DATA_LIMIT, room // BYTES_PER_CHARACTER)


# -- activations, per token and layer ---------------------------------------------------
# What forward keeps for backward in the built-in blocks, in floats per token of one layer;
# tests/test_memory.py holds these to within a factor of two of a traced training step.
def _sequence_floats(config) -> int:
    return 4 * config.n_emb  # two LayerNorms' normalised inputs and the two residual sums


def _attention_floats(config) -> int:
    # q, k, v and the merged heads; per head one softmax weight per key in the window,
    # kept twice (weights and what backward reuses), three times with a dropout mask
    per_key = 3 if config.dropout else 2
    return 6 * config.head_size + per_key * config.n_heads * config.n_ctx + config.n_emb


def _network_floats(config) -> int:
    return 10 * config.n_emb  # input, the 4x hidden layer after GELU and GELU's derivative, output


DEFAULT_FLOATS = {"sequence": _sequence_floats, "attention": _attention_floats, "network": _network_floats}


def floats_per_token(config, entries) -> int:
    """Activation floats one layer keeps per token; entries: kind -> registry Entry (model.entries)."""
    total = 0
    for kind, entry in entries.items():
        stated = entry.cls.activation_floats(config, block_options(config, entry.cls))
        total += DEFAULT_FLOATS[kind](config) if stated is None else stated
    return total


def _activations(config, entries, vocab_size: int, tokens: int) -> int:
    """Bytes of the activations of `tokens` tokens through every layer, plus the logits
    with their softmax and gradient."""
    floats = tokens * (config.n_layers * floats_per_token(config, entries) + 3 * vocab_size)
    return floats * np.dtype(config.dtype).itemsize


# -- what a model and a training run need -------------------------------------------------
# each part: (what it is, bytes, the keys that shrink it)
SIZE_KEYS = "n_emb, head_size, n_layers or n_ctx (or a block option such as n_experts)"


def model_needs(config, parameters: int, vocab_size: int, entries) -> list:
    """A model in memory, by part: weights and gradients (every model has both buffers) and
    one window of activations (what generation and evaluation use)."""
    size = np.dtype(config.dtype).itemsize
    return [
        (f"{parameters:,} parameters (weights and gradients)", 2 * parameters * size, SIZE_KEYS),
        (f"activations of one {config.n_ctx}-token window", _activations(config, entries, vocab_size, config.n_ctx),
         "n_ctx or n_layers"),
    ]


def training_needs(model, batch: int, workers: int) -> list:
    """A training run of `model` on batches of `batch` windows split over `workers` threads, by part."""
    config, size = model.config, model.parameters.dtype.itemsize
    P = model.parameters.size
    buffers = f"weights, {workers} gradient buffer{'s' * (workers > 1)}, AdamW's 3 buffers"
    return [
        # + the float64 squares of the report's per-group statistics
        (f"{P:,} parameters ({buffers})", P * size * (1 + workers + 3) + P * 8, SIZE_KEYS),
        (f"activations of a batch of {batch} x {config.n_ctx} tokens",
         _activations(config, model.entries, model.vocab_size, batch * config.n_ctx), "batch_size or n_ctx"),
    ]


def require(parts: list, what: str):
    """A one-line UserError when the parts (what, bytes, keys) need more than the available memory."""
    room = available()
    needed = sum(part[1] for part in parts)
    if room is None or needed <= room:
        return
    keys = max(parts, key=lambda part: part[1])[2]
    details = "; ".join(f"{name}: {describe_bytes(value)}" for name, value, _ in parts)
    raise UserError(f"{what} needs about {describe_bytes(needed)} of memory ({details}), "
                    f"but this machine has {describe_bytes(room)} available", f"lower {keys}")


def check_training(model, batch: int):
    """Refuse (one line) to train `model` on batches of `batch` windows if it cannot fit."""
    from littlebaby.training.step import workers

    require(training_needs(model, batch, workers(model, batch)), "training this model")


def count(block) -> int:
    """Parameters a (not yet allocated) block declares, sub-blocks included."""
    return sum(math.prod(spec.shape) for _, _, _, spec in block.named_specs())
