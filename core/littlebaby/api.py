"""The Python API in one place: every function the CLI calls, re-exported from the module of its idea.

import littlebaby
run = littlebaby.train(overrides={"max_steps": 200})
config, tokenizer, model = littlebaby.load("last")
print(littlebaby.generate("last", prompt="ROMEO:", max_tokens=200, seed=1))
"""

from littlebaby.hf.exporting import export_hf
from littlebaby.hf.importing import import_hf
from littlebaby.look.listing import runs
from littlebaby.look.surprise import token_losses
from littlebaby.look.views import attention, compare, inspect, plot, significance
from littlebaby.plugins.registry import rows as plugins
from littlebaby.plugins.scaffold import new_plugin
from littlebaby.runs.finetune import finetune, grown_model
from littlebaby.runs.generate import generate
from littlebaby.runs.load import Loaded, load
from littlebaby.runs.original import import_original
from littlebaby.runs.prepare import prepare
from littlebaby.runs.train import train
from littlebaby.training.session import RunResult

__all__ = [
    "Loaded",
    "RunResult",
    "attention",
    "compare",
    "significance",
    "finetune",
    "generate",
    "grown_model",
    "import_original",
    "import_hf",
    "export_hf",
    "inspect",
    "load",
    "new_plugin",
    "plot",
    "plugins",
    "prepare",
    "runs",
    "token_losses",
    "train",
]
