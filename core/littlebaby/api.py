"""The Python API in one place: every function the CLI calls, re-exported from the module of its idea.

    import littlebaby
    run = littlebaby.train(overrides={"max_steps": 200})
    config, tokenizer, model = littlebaby.load("last")
    print(littlebaby.generate("last", prompt="ROMEO:", max_tokens=200, seed=1))

runs.py trains, resumes, finetunes and imports (session.py runs the training); loading.py loads and
generates; looking.py inspects and draws; report.py lists the runs;
token_losses.py scores a text character by character; prepare.py tokenizes a corpus
into a directory that train(data=DIR) maps.
"""

from littlebaby.runs.load import Loaded, generate, load  # noqa: F401
from littlebaby.look.views import attention, compare, inspect, plot  # noqa: F401
from littlebaby.plugins.registry import rows as plugins  # noqa: F401
from littlebaby.runs.prepare import prepare  # noqa: F401
from littlebaby.look.listing import runs  # noqa: F401
from littlebaby.runs.train import finetune, grown_model, import_original, train  # noqa: F401
from littlebaby.training.session import RunResult  # noqa: F401
from littlebaby.look.surprise import token_losses  # noqa: F401
