"""`littlebaby new-plugin KIND NAME`: a ready plugin folder a third party starts from.

The folder is a distribution of its own: a pyproject.toml whose entry point makes `c_<kind>: NAME` work once
installed, one module with a block (or tokenizer) that already passes the testing kit, the kit's test, and a
README saying how to install it and run the kit with uv or pip. Change the module's math, keep the tests green.
"""

import re
from pathlib import Path

from littlebaby.errors import UserError, shown
from littlebaby.system import arguments, atomic

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
HOOKS = {
    "sequence": "register_sequences",
    "attention": "register_attentions",
    "network": "register_networks",
    "position": "register_positions",
    "tokenizer": "register_tokenizers",
}

BLOCKS = {
    "sequence": '''"""{name}: a sequence block (pre-norm wiring to start from): h = x + att(ln1(x)), h + net(ln2(h))."""

import littlebaby
from littlebaby.nn import LayerNorm


class {cls}(littlebaby.Block):
    def __init__(self, config, options=None, *, attention, network):
        super().__init__(config, options)
        self.ln1 = self.add("ln1", LayerNorm(config.n_emb))
        self.attention = self.add("attention", attention)
        self.ln2 = self.add("ln2", LayerNorm(config.n_emb))
        self.network = self.add("network", network)

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        h = x + self.attention.forward(self.ln1.forward(x), cache)
        return h + self.network.forward(self.ln2.forward(h))

    def backward(self, dy):  # dy (B, T, n_emb)
        dh = dy + self.ln2.backward(self.network.backward(dy))
        return dh + self.ln1.backward(self.attention.backward(dh))
''',
    "attention": '''"""{name}: an attention block (causal multi-head attention to start from)."""

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, NoPositions, ops


class {cls}(littlebaby.Block):
    def __init__(self, config, options=None, position=None):
        super().__init__(config, options)
        self.n_heads = config.n_heads
        self.position = self.add("position", position or NoPositions(config))  # the config's c_position
        self.qkv = self.add("qkv", Linear(config.n_emb, 3 * config.head_size, bias=False))
        self.attend = self.add("attend", CausalAttention.of(config))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k, v = ops.split_qkv(self.qkv.forward(x), self.n_heads)  # (B, H, T, d_k)
        q, k = self.position.place(q, k, cache)  # rope rotates them; learned and none leave them
        if cache is not None:  # keys and values of earlier positions: (B, H, pos + T, d_k)
            k, v = cache.extend("k", k), cache.extend("v", v)
        o = self.attend.forward(q, k, v)  # (B, H, T, d_k)
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)
        dq, dk = self.position.place_backward(dq, dk)
        return self.qkv.backward(ops.merge_qkv(dq, dk, dv))
''',
    "position": '''"""{name}: a position encoding mapping each head's q and k by position (the identity to start from).

Every attention that takes positions calls forward on its new tokens' q and k (x (..., T, d) at positions
start .. start + T - 1) and backward on their gradients; `absolute` asks the model for a learned table too.
"""

import littlebaby
from littlebaby.nn import Position


class {cls}(Position):
    in_attention = True  # forward and backward are called on q and k

    @classmethod
    def absolute(cls, config, options):
        return False  # True: the model adds a learned table wpe (n_ctx, n_emb) to the token embeddings

    def forward(self, x, start=0):  # x (..., T, d)
        return x

    def backward(self, dx, start=0):  # dx (..., T, d): the transpose of forward's map
        return dx
''',
    "network": '''"""{name}: a network block (n_emb -> 4 n_emb -> GELU -> n_emb to start from)."""

import littlebaby
from littlebaby.nn import Dropout, Linear, ops


class {cls}(littlebaby.Block):
    def __init__(self, config, options=None):
        super().__init__(config, options)
        self.up = self.add("up", Linear(config.n_emb, 4 * config.n_emb))
        self.down = self.add("down", Linear(4 * config.n_emb, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        hidden, self.saved = ops.gelu_forward(self.up.forward(x))  # (B, T, 4 n_emb), GELU's derivative
        return self.dropout.forward(self.down.forward(hidden))

    def backward(self, dy):  # dy (B, T, n_emb)
        dhidden = self.down.backward(self.dropout.backward(dy))
        return self.up.backward(ops.gelu_backward(dhidden, self.saved))
''',
    "tokenizer": '''"""{name}: a tokenizer (one id per UTF-8 byte to start from)."""

import numpy as np

import littlebaby
from littlebaby.text import Tokenizer


class {cls}(Tokenizer):
    encodes_any_text = True  # every text is bytes

    @classmethod
    def train(cls, chunks, options=None):
        for _ in chunks:  # the chunks are streamed (a corpus may not fit in memory): consume them
            pass
        return cls()

    def encode(self, text):
        return np.frombuffer(text.encode("utf-8", errors="surrogatepass"), dtype=np.uint8).astype(np.int64)

    def token_bytes(self, token):
        return bytes([token])

    @property
    def vocab_size(self):
        return 256

    def to_dict(self):
        return {{}}

    @classmethod
    def from_dict(cls, data, source="tokenizer"):
        return cls()

    def extend(self, text):
        return self
''',
}
REGISTER = """

@littlebaby.hookimpl
def {hook}(register):
    register("{name}", {cls})
"""
TESTS = {
    "block": '''"""{name} through the littlebaby testing kit: gradients, the cache past n_ctx, shapes, save and load."""

from littlebaby.testing import block_suite

Test{cls} = block_suite("{kind}", "{name}")
''',
    "tokenizer": '''"""{name} through the littlebaby testing kit: round trips, save and load, vocabulary, streaming."""

from littlebaby.testing import tokenizer_suite

Test{cls} = tokenizer_suite("{name}")
''',
}
PYPROJECT = """[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "a littlebaby {kind}: {name}"
requires-python = ">=3.10"
dependencies = ["littlebaby"]

# the entry point that makes `c_{kind}: {name}` work once installed
[project.entry-points.littlebaby]
{name} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
"""
README = """# {distribution}

A littlebaby {kind}, `{name}`: `{module}.py` is the whole plugin, `test_{name}.py` runs the testing kit on it.

With uv, from this folder (beside a littlebaby checkout, or with littlebaby from PyPI):

    uv venv && uv pip install -e . pytest hypothesis && uv run pytest

With pip:

    python -m venv .venv && .venv/bin/pip install -e . pytest hypothesis && .venv/bin/pytest

Then `littlebaby plugins` lists it, and `littlebaby train --set c_{kind}={name}` trains with it.
"""


def new_plugin(kind: str, name: str, out=None) -> list:
    """Write the folder of a new plugin; returns the paths written. out: the folder (default ./<distribution>)."""
    if kind not in HOOKS:
        raise UserError(f"no plugin kind {shown(kind)}", f"one of: {', '.join(HOOKS)}")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError(f"plugin name {shown(name)} is not a lowercase identifier", "for example: sharedkv, my_norm")
    distribution, module = f"littlebaby-{kind}-{name.replace('_', '-')}", f"littlebaby_{kind}_{name}"
    folder = Path(distribution) if out is None else arguments.given_path(out, "out", distribution)
    if folder.exists() or folder.is_symlink():
        raise UserError(f"{{out=}}{folder} exists", "give a new folder (new-plugin never overwrites)", "out")
    values = dict(
        kind=kind,
        name=name,
        cls="".join(part.capitalize() for part in name.split("_")),
        module=module,
        distribution=distribution,
        hook=HOOKS[kind],
    )
    files = {
        f"{module}.py": BLOCKS[kind].format(**values) + REGISTER.format(**values),
        f"test_{name}.py": TESTS["tokenizer" if kind == "tokenizer" else "block"].format(**values),
        "pyproject.toml": PYPROJECT.format(**values),
        "README.md": README.format(**values),
    }
    written = []
    for filename, text in files.items():
        atomic.write_text(folder / filename, text)
        written.append(folder / filename)
    return written
