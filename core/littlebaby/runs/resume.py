"""Resume: a run continued from its newest intact checkpoint, on the data its report records (checked by its sha256)."""

import time

from littlebaby.config import to_dict
from littlebaby.configs import load_file, with_overrides
from littlebaby.errors import UserError
from littlebaby.runs.data import data_record, resume_data
from littlebaby.runs.load import load_tokenizer
from littlebaby.runs.setup import check_model, rebuilt, recipe_config, write_run_files
from littlebaby.store import checkpoints, weights
from littlebaby.store.report import Report
from littlebaby.system import atomic
from littlebaby.text.batches import Epochs
from littlebaby.training.session import Run, RunResult, train_session
from littlebaby.training.trainer import TrainState, total_steps


def resume_run(home, run, overrides, quiet, log) -> RunResult:
    """Continue run `run` from its newest complete checkpoint, on the data its report records."""
    name = home.resolve(run)
    home.check_writable()
    # locked before its checkpoints are read: a trainer beside it could retire the one chosen, and
    # a resume refused for running beside it must not rewrite the run's config first
    if not home.checkpoints(
        name
    ).is_dir():  # an older run without checkpoint folders: no lock file made before it is valid
        return _resume_locked(home, name, overrides, quiet, log, locked=False)
    with home.training_lock(name, patience=LEAVING_SECONDS):
        return _resume_locked(home, name, overrides, quiet, log)


# a trainer whose MPI job has just ended (a remote rank killed) takes a moment to leave: an immediate resume
# waits this long for it before saying the run is being trained
LEAVING_SECONDS = 3.0


def _read_config(home, name) -> dict | None:
    try:
        return load_file(home.config(name))
    except UserError:
        return None


def _config_file_edits(home, name, config) -> dict:
    """The keys a person changed in the run's config file since its checkpoint: a resume applies them as
    overrides (an architecture key is refused as one would be), never leaving the file saying another run."""
    on_file, saved = _read_config(home, name) or {}, to_dict(config)
    return {key: value for key, value in on_file.items() if saved.get(key, value) != value or key not in saved}


def _resume_locked(home, name, overrides, quiet, log, locked=True) -> RunResult:
    report = Report.read(home.report(name), name)
    other = report.trained_elsewhere()
    deadline = time.monotonic() + LEAVING_SECONDS
    while other is not None and locked and time.monotonic() < deadline:  # it let go of the lock: it is leaving
        time.sleep(0.1)
        other = report.trained_elsewhere()
    if other is not None:
        raise UserError(f"run {name} is being trained by process {other}", "wait for it to end, or stop it first")
    tokenizer = load_tokenizer(home, name)
    saved = checkpoints.newest(home.checkpoints(name))
    if saved is None and home.optimizer(name).exists():
        saved = checkpoints.before_checkpoints(home.model(name), home.optimizer(name))
    broken = checkpoints.why_broken(home.checkpoints(name)) if saved is None else None
    if broken:
        raise UserError(
            f"run {name} has no intact checkpoint to resume from ({home.checkpoints(name)}, newest {broken})",
            "restore one, or finetune the run from its model file",
        )
    if saved is None:
        raise UserError(
            f"run {name} has no checkpoint to resume from (in {home.checkpoints(name)})",
            "it stopped before its first one; train it again",
        )
    model = weights.load_model(saved.model, vocab_size=tokenizer.vocab_size)
    edits = _config_file_edits(home, name, model.config)
    wanted = {**edits, **with_overrides({}, overrides)}
    if wanted.get("c_optimizer", model.config.c_optimizer) != model.config.c_optimizer:
        raise UserError(
            f"run {name} trains with optimizer {model.config.c_optimizer!r}, whose state its checkpoint holds",
            f"resume it as it is, or finetune it with {{c_optimizer=}}{wanted['c_optimizer']} as a new run",
            ["c_optimizer"],
        )
    cfg = recipe_config(model.config, wanted)
    if edits and log:
        log(f"the run's config file changes {', '.join(f'{k}={v}' for k, v in edits.items())}: resuming with it")
    data_info = report.trained_on(home.report(name))
    extended, corpus = resume_data(data_info, name, tokenizer, cfg.n_ctx)
    if extended is not tokenizer:  # a report without the text's sha256, and a text that changed since
        new = "".join(extended.token_text(i) for i in range(tokenizer.vocab_size, extended.vocab_size))
        raise UserError(
            f"{data_info.source} now holds characters the run's vocabulary lacks: {new[:20]!r}",
            "restore it, or finetune the run on it",
        )
    recipe_changed = cfg != model.config  # e.g. max_steps: the run's config file is rewritten
    model = rebuilt(model, cfg) if recipe_changed else model
    check_model(model, corpus.train)
    session = Run(home, name, cfg, tokenizer, model, corpus.train, corpus.val, report, [])
    state = weights.load_optimizer(saved.optimizer, session.optimizer)
    session.state = TrainState.from_dict(saved.state or state, f"checkpoint {saved.path}")
    planned = total_steps(Epochs(corpus.train, cfg.n_ctx, cfg.batch_size, cfg.seed).steps_per_epoch, cfg)
    if session.state.step > planned:  # it would train nothing and record a schedule shorter than what it holds
        raise UserError(
            f"run {name} has done {session.state.step} steps, more than the {planned} this config plans",
            f"resume with {{max_steps=}}{session.state.step} or more",
            "max_steps",
        )
    for path in (home.model(name), home.report(name), home.config(name)):  # written after training: refused before it
        atomic.check_replaceable(path)
    if saved.report is not None:
        report.rewind(saved.report, session.state.step)
    report.resumed(cfg, session.state.step)
    report.read_again(data_record(data_info, corpus))
    if recipe_changed or not home.config(name).is_file() or _read_config(home, name) != to_dict(cfg):
        session.written = write_run_files(home, name, cfg)  # the file says what the run does, always
    return train_session(session, quiet, log, locked=locked)
