"""`train`: a new run from a config and a text (or a prepared directory), or, with resume=RUN, an old one continued.

run = littlebaby.train(overrides={"max_steps": 200})
again = littlebaby.train(resume="last", overrides={"max_steps": 400})
"""

from littlebaby.configs import find, with_overrides
from littlebaby.errors import UserError
from littlebaby.nn.gpt import GPT
from littlebaby.plugins import resolve
from littlebaby.runs.data import data_record, load_new
from littlebaby.runs.resume import resume_run
from littlebaby.runs.setup import (
    check_model,
    creating,
    made_label,
    new_run,
    run_label,
    training_home,
    write_run_files,
)
from littlebaby.store.report import Report
from littlebaby.system import arguments
from littlebaby.text.batches import whole_split_windows
from littlebaby.training.session import Run, RunResult, train_session


def train(
    config: str | None = None,
    data=None,
    overrides=(),
    home=".",
    resume: str | None = None,
    quiet: bool = True,
    log=None,
    name: str | None = None,
) -> RunResult:
    """Train a new run (or continue one with resume=name) and return its result.

    config: a shipped name or a JSON path (None: baby); data: a text file (None: tiny Shakespeare) or a
    directory made by `prepare` (its tokenizer and memory-mapped ids);
    overrides: {"key": value} or ["key=value", ...]; log: a callable for progress lines; name: the run's
    readable name (default: the config and the overrides, e.g. "baby lr=0.002").
    """
    arguments.given_log(log, quiet)
    if resume is not None:
        if data is not None:
            raise UserError(
                "{resume=}RUN continues on the run's own data",
                "drop {data=}..., or finetune the run on new data",
                ("resume", "data"),
            )
        if config is not None:  # it would be ignored: the run's architecture is its model's
            raise UserError(
                "{resume=}RUN continues with the run's own config",
                "drop {config=}..., and change recipe keys with {key=}value",
                ("resume", "config", "key"),
            )
        if name is not None:
            raise UserError("a resumed run keeps its {name}", "drop {name=}...", "name")
        return resume_run(training_home(home), resume, overrides, quiet, log)
    raw, config_name = find("baby" if config is None else config)
    cfg = resolve.config(with_overrides(raw, overrides))
    asked = with_overrides({}, overrides)
    label = run_label(name, made_label(config_name, asked))
    cfg, tokenizer, corpus, info = load_new(data, cfg, quiet, asked)
    home = training_home(home)
    home.check_writable()
    model = GPT(cfg, tokenizer.vocab_size)
    check_model(model, corpus.train)
    if cfg.eval_windows == 0:
        whole_split_windows(len(corpus.val), cfg.n_ctx)
    # everything is valid: from here on, files are created
    run = new_run(home)
    with creating(home, run):
        report = Report.new(run, cfg, config_name, model, data_record(info, corpus), label=label, overrides=asked)
        written = write_run_files(home, run, cfg, tokenizer)
    return train_session(Run(home, run, cfg, tokenizer, model, corpus.train, corpus.val, report, written), quiet, log)
