"""littlebaby: a GPT-style character-level language model in pure NumPy.

Every forward and backward pass is written by hand. The core (this package)
holds the math, the model that stacks blocks, the optimizer, the tokenizer,
the config, the plugin manager, runs and files, and the CLI; each block
variant (sequence, attention, network) is a plugin distribution found through
the `littlebaby` entry point group.
"""

import importlib.metadata

import pluggy

try:  # the one version source is pyproject.toml, read from the installed distribution
    __version__ = importlib.metadata.version("littlebaby")
except importlib.metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

hookimpl = pluggy.HookimplMarker("littlebaby")
"""Decorator for plugin hook implementations: `@littlebaby.hookimpl`."""

from littlebaby.errors import UserError  # noqa: E402
from littlebaby.nn.block import Block, Layer  # noqa: E402

# the Python API (api.py): littlebaby.train, .load, .generate, .compare, .runs, ... on first use
API = (
    "train",
    "load",
    "generate",
    "finetune",
    "runs",
    "compare",
    "inspect",
    "plot",
    "attention",
    "token_losses",
    "prepare",
    "import_original",
    "plugins",
    "new_plugin",
)
__all__ = ["hookimpl", "UserError", "Block", "Layer", "__version__", "build_model", *API]


def __getattr__(name):
    # The run-level API imports the whole stack; load it on first use so that
    # `import littlebaby` stays cheap for plugin authors.
    if name == "api" or name in API:
        api = importlib.import_module("littlebaby.api")  # not `from littlebaby import api`: that asks this hook again
        return api if name == "api" else getattr(api, name)
    if name == "build_model":
        from littlebaby.plugins.resolve import build_model

        return build_model
    raise AttributeError(f"module 'littlebaby' has no attribute {name!r}")
