"""Training runs: train a new run, resume one, finetune one, import the original notebook's.

Each command validates everything it can (config, data, run names, home)
BEFORE it creates a file, so a mistake leaves nothing behind; then it reserves
the run's name and writes its files atomically (files.py). Each prepares a
`Run` for session.py, the one place a session is trained, saved and sampled.
Resume continues from the run's newest complete checkpoint (checkpoints.py),
on the same text (checked by its sha256).

    run = littlebaby.train(overrides={"max_steps": 200})
    again = littlebaby.train(resume="last", overrides={"max_steps": 400})
"""

import contextlib
import os
import stat
from pathlib import Path

import attrs
import numpy as np

from littlebaby import config as configs
from littlebaby.store import weights as checkpoint
from littlebaby.store import checkpoints
from littlebaby.text import corpus as corpora
from littlebaby.training import distributed
from littlebaby.store import home as files
from littlebaby.system import memory
from littlebaby.store import report as reports
from littlebaby.text import batches as text
from littlebaby.system import reading
from littlebaby.text import tokenizer as tokenizers
from littlebaby.errors import UserError
from littlebaby.runs.original import convert
from littlebaby.runs.load import load_named, load_tokenizer
from littlebaby.nn.gpt import build_model
from littlebaby.plugins.registry import default_registry
from littlebaby.training.session import Run, RunResult, train_session
from littlebaby.training.trainer import TrainState, total_steps

SHIPPED_DATA = reports.Data("tiny Shakespeare (shipped)", "shakespeare", 0)


# -- data and config ------------------------------------------------------------------
def read_data(data) -> tuple[str, reports.Data]:
    """(text, what it is): a path, or None for the shipped tiny Shakespeare."""
    if data is None:
        corpus = text.shipped_text(SHIPPED_DATA.shipped)
        return corpus, attrs.evolve(SHIPPED_DATA, characters=len(corpus), sha256=reading.sha256(corpus.encode("utf-8")))
    corpus = text.read_text(data)
    try:
        regular = stat.S_ISREG(os.stat(data).st_mode)
    except OSError:  # a pipe that is gone once read
        regular = False
    return corpus, reports.Data(str(Path(data).resolve()), None, len(corpus), reading.sha256(corpus.encode("utf-8")), regular)


def reread_data(data: reports.Data, name: str) -> str:
    """The text run `name` was trained on, as its report records it, unchanged."""
    if not data.rereadable:
        raise UserError(f"run {name} was trained on {data.source}, a pipe or stream that cannot be read again",
                        "it cannot be resumed; finetune it on a saved copy of the text instead")
    corpus = text.shipped_text(data.shipped) if data.shipped else text.read_text(data.source)
    if data.sha256 is not None and reading.sha256(corpus.encode("utf-8")) != data.sha256:
        raise UserError(f"the text run {name} was trained on changed since ({data.source}: its sha256 differs)",
                        "restore that text to resume the run, or finetune it on the new text")
    return corpus


def data_record(info: reports.Data | None, corpus: corpora.Corpus) -> reports.Data:
    """What the report keeps of the data: its source (a prepared directory: the corpus's) and its ids."""
    return attrs.evolve(info or reports.Data(corpus.source, None, 0), **corpus.counts())


def recipe_config(config, overrides, registry):
    """config with training overrides applied; architecture keys may not change."""
    cfg = configs.from_dict(configs.with_overrides(configs.to_dict(config), overrides), registry)
    changed = [k for k in configs.architecture_keys() if getattr(cfg, k) != getattr(config, k)]
    if changed or cfg.options != config.options:
        keys = ", ".join(changed) or "plugin options"
        raise UserError(f"cannot change {keys} of an existing run", "train a new run instead")
    return cfg


def rebuilt(model, cfg, registry):
    """The same parameters in a model built from cfg (same architecture, other recipe)."""
    twin = build_model(cfg, model.vocab_size, registry)
    twin.parameters.data[...] = model.parameters.data
    return twin


def grown_model(model, cfg, vocab_size: int, registry=None):
    """The base model under the finetune's config with room for vocab_size tokens.

    Old ids keep their rows, so before any step the old tokens' logits are the base's.
    """
    model = model if cfg == model.config else rebuilt(model, cfg, registry)
    # new rows come from their own stream: the same whatever the base's training did
    return model.grow_vocab(vocab_size, np.random.default_rng([cfg.seed, 2]))


def check_memory(model, train_ids):
    """Refuse, before any file is written, a batch that cannot fit in memory (the model itself was checked when built)."""
    cfg = model.config
    memory.check_training(model, text.Epochs(train_ids, cfg.n_ctx, cfg.batch_size, cfg.seed).batch_size)


class FollowerHome(files.Home):
    """The home as MPI ranks other than 0 see it: they read run files and write none (rank 0
    checks, reserves, locks, cleans and writes; its errors reach them through `world.agree`)."""

    def check_writable(self):
        pass

    def reserve_run(self, name: str) -> bool:
        return not self.model(name).exists()  # claims nothing: the name is rank 0's to claim

    @contextlib.contextmanager
    def training_lock(self, run: str):
        yield


def training_home(path) -> files.Home:
    """The home a train, resume or finetune works in: a FollowerHome on MPI ranks but 0."""
    return files.Home(path) if distributed.world().is_root else FollowerHome(path)


def write_run_files(home, name, cfg, tokenizer=None) -> list:
    """Write the config (and tokenizer) of a run; returns the paths written (none on MPI ranks but 0)."""
    if isinstance(home, FollowerHome):
        return []
    written = [home.config(name)]
    files.write_json(written[0], configs.to_dict(cfg))
    if tokenizer is not None:
        written.append(home.tokenizer(name))
        files.write_json(written[1], tokenizers.to_file(tokenizer))
    return written


# -- the commands -----------------------------------------------------------------------
def train(config: str | None = None, data=None, overrides=(), home=".", resume: str | None = None, quiet: bool = True,
          log=None, registry=None) -> RunResult:
    """Train a new run (or continue one with resume=name) and return its result.

    config: a shipped name or a JSON path (None: baby); data: a text file (None: tiny Shakespeare) or a
    directory made by `prepare` (its tokenizer and memory-mapped ids);
    overrides: {"key": value} or ["key=value", ...]; log: a callable for progress lines.
    """
    if resume is not None:
        if data is not None:
            raise UserError("resume=RUN continues on the run's own data", "drop data=..., or finetune the run on new data")
        if config is not None:  # it would be ignored: the run's architecture is its model's
            raise UserError("resume=RUN continues with the run's own config", "drop config=..., and change recipe keys with key=value")
        return resume_run(training_home(home), resume, overrides, quiet, log, registry)
    registry = registry or default_registry()
    raw, config_name = configs.config_dict("baby" if config is None else config)
    cfg = configs.from_dict(configs.with_overrides(raw, overrides), registry)
    asked = configs.with_overrides({}, overrides)
    cfg, tokenizer, corpus, info = corpora.load_new(data, cfg, read_data, quiet, registry, asked)
    home = training_home(home)
    home.check_writable()
    model = build_model(cfg, tokenizer.vocab_size, registry)
    check_memory(model, corpus.train)
    # everything is valid: from here on, files are created
    name = _new_run(home)
    report = reports.new(name, cfg, config_name, model, data_record(info, corpus))
    written = write_run_files(home, name, cfg, tokenizer)
    return train_session(Run(home, name, cfg, tokenizer, model, corpus.train, corpus.val, report, written), quiet, log)


def _new_run(home) -> str:
    """A fresh run name, reserved (a uuid4 does not collide; reserving makes that a fact)."""
    name = files.new_guid()
    while not home.reserve_run(name):
        name = files.new_guid()
    return name


def resume_run(home, run, overrides, quiet, log, registry) -> RunResult:
    """Continue run `run` from its newest complete checkpoint, on the data its report records."""
    name = home.resolve(run)
    home.check_writable()
    # locked before its checkpoints are read: a trainer beside it could retire the one chosen, and
    # a resume refused for running beside it must not rewrite the run's config first
    if not home.checkpoints(name).is_dir():  # an older run without checkpoint folders: no lock file made before it is valid
        return _resume_locked(home, name, overrides, quiet, log, registry, locked=False)
    with home.training_lock(name):
        return _resume_locked(home, name, overrides, quiet, log, registry)


def _resume_locked(home, name, overrides, quiet, log, registry, locked=True) -> RunResult:
    report = reports.read(home.report(name), name)
    other = reports.trained_elsewhere(report)
    if other is not None:
        raise UserError(f"run {name} is being trained by process {other}", "wait for it to end, or stop it first")
    tokenizer = load_tokenizer(home, name, registry)
    saved = checkpoints.newest(home.checkpoints(name))
    if saved is None and home.optimizer(name).exists():
        saved = checkpoints.before_checkpoints(home.model(name), home.optimizer(name))
    broken = checkpoints.why_broken(home.checkpoints(name)) if saved is None else None
    if broken:
        raise UserError(f"run {name} has no intact checkpoint to resume from ({home.checkpoints(name)}, newest {broken})",
                        "restore one, or finetune the run from its model file")
    if saved is None:
        raise UserError(f"run {name} has no checkpoint to resume from (in {home.checkpoints(name)})",
                        "it stopped before its first one; train it again")
    model = checkpoint.load_model(saved.model, registry, vocab_size=tokenizer.vocab_size)
    cfg = recipe_config(model.config, overrides, registry)
    data_info = reports.data_of(report, home.report(name))
    extended, corpus, _ = corpora.load_existing(data_info.source, tokenizer, cfg.n_ctx, lambda _: (reread_data(data_info, name), data_info), registry)
    if extended is not tokenizer:  # a report without the text's sha256, and a text that changed since
        new = "".join(extended.token_text(i) for i in range(tokenizer.vocab_size, extended.vocab_size))
        raise UserError(f"{data_info.source} now holds characters the run's vocabulary lacks: {new[:20]!r}",
                        "restore it, or finetune the run on it")
    recipe_changed = cfg != model.config  # e.g. max_steps: the run's config file is rewritten
    model = rebuilt(model, cfg, registry) if recipe_changed else model
    check_memory(model, corpus.train)
    session = Run(home, name, cfg, tokenizer, model, corpus.train, corpus.val, report, [])
    state = checkpoint.load_optimizer(saved.optimizer, session.optimizer)
    session.state = TrainState.from_dict(saved.state or state, f"checkpoint {saved.path}")
    planned = total_steps(text.Epochs(corpus.train, cfg.n_ctx, cfg.batch_size, cfg.seed).steps_per_epoch, cfg)
    if session.state.step > planned:  # it would train nothing and record a schedule shorter than what it holds
        raise UserError(f"run {name} has done {session.state.step} steps, more than the {planned} this config plans",
                        f"resume with max_steps={session.state.step} or more")
    for path in (home.model(name), home.report(name), home.config(name)):  # written after training: refused before it
        files.check_replaceable(path)
    if saved.report is not None:
        reports.rewind(report, saved.report, session.state.step)
    reports.resumed(report, cfg, session.state.step)
    if recipe_changed:
        session.written = write_run_files(home, name, cfg)
    return train_session(session, quiet, log, locked=locked)


def finetune(run: str, data, overrides=(), home=".", quiet: bool = True, log=None, registry=None) -> RunResult:
    """Train run further on new text, growing a char vocabulary (bpe's is fixed); writes a new run <run>_finetuned.

    data: a text file or a directory made by `prepare`, as `--data` is required on the command line
    (None is refused: train's default, the shipped Shakespeare, is not new text)."""
    reading.given_path(data, "data", "new_text.txt")
    home = training_home(home)
    base = home.resolve(run)
    loaded = load_named(home, base, registry)
    cfg = recipe_config(loaded.config, overrides, registry)
    tokenizer, corpus, info = corpora.load_existing(data, loaded.tokenizer, cfg.n_ctx, read_data, registry)
    home.check_writable()
    name = home.finetune_name(base)
    model = grown_model(loaded.model, cfg, tokenizer.vocab_size, registry)
    check_memory(model, corpus.train)
    new_characters = [tokenizer.token_text(i) for i in range(loaded.tokenizer.vocab_size, tokenizer.vocab_size)]
    report = reports.new(name, cfg, "finetune", model, data_record(info, corpus), base=base, new_characters=new_characters)
    written = write_run_files(home, name, cfg, tokenizer)
    log and log(f"finetuning {base}: {len(new_characters)} new tokens, vocabulary {loaded.tokenizer.vocab_size} -> {tokenizer.vocab_size}")
    return train_session(Run(home, name, cfg, tokenizer, model, corpus.train, corpus.val, report, written), quiet, log)


def _keep_architecture(notebook, wanted):
    """The notebook's weights mean something only in its architecture: an override may change the
    recipe or the dtype, not a block or a size (n_heads=1 would load the same arrays as other heads)."""
    changed = [key for key in configs.architecture_keys() if key != "dtype" and getattr(notebook, key) != getattr(wanted, key)]
    if changed:
        key = changed[0]
        raise UserError(f"an import keeps the notebook's architecture: {key} is {getattr(notebook, key)!r} in its config, "
                        f"not {getattr(wanted, key)!r}", f"drop the {key} override (recipe keys and dtype may change)")


def import_original(config, tokenizer, model, home=".", overrides=(), registry=None) -> RunResult:
    """A new run from the JSON files of the original notebook (see import_original.py)."""
    registry = registry or default_registry()
    config, tokenizer, model = (reading.given_path(path, name, f"{name}.json") for path, name in
                                ((config, "config"), (tokenizer, "tokenizer"), (model, "model")))
    notebook = configs.load_file(config)
    raw = configs.with_overrides(notebook, overrides)
    cfg, tok, net = convert(raw, tokenizer, model, registry)  # its refusals name what the notebook lacks
    _keep_architecture(configs.from_dict(notebook, registry), cfg)
    home = files.Home(home)
    home.check_writable()
    name = _new_run(home)
    report = reports.new(name, cfg, "imported", net, reports.Data(str(Path(model).resolve()), None, 0))
    reports.imported(report)
    written = write_run_files(home, name, cfg, tok) + [home.model(name), home.report(name)]
    checkpoint.save_model(written[2], net)
    reports.write(written[3], report)
    return RunResult(name, home.path, "imported", report, written)
