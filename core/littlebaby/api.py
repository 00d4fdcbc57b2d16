"""The Python API in one place: every function the CLI calls, re-exported from the module of its idea.

    import littlebaby
    run = littlebaby.train(overrides={"max_steps": 200})
    config, tokenizer, model = littlebaby.load("last")
    print(littlebaby.generate("last", prompt="ROMEO:", max_tokens=200, seed=1))

runs.py trains, resumes, finetunes and imports (session.py runs the training); loading.py loads and
generates; looking.py inspects and draws; report.py lists the runs; prepare.py tokenizes a corpus
into a directory that train(data=DIR) maps.
"""

from littlebaby.loading import Loaded, generate, load  # noqa: F401
from littlebaby.looking import attention, compare, inspect, plot  # noqa: F401
from littlebaby.plugins import rows as plugins  # noqa: F401
from littlebaby.prepare import prepare  # noqa: F401
from littlebaby.report import runs  # noqa: F401
from littlebaby.runs import finetune, grown_model, import_original, train  # noqa: F401
from littlebaby.session import RunResult  # noqa: F401
