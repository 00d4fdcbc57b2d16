"""One training session of a run: the trainer under signal handlers, its saves in order, the final sample.

runs/ prepares a `Run` (new, resumed or finetuned) and hands it here. The report is saved at the start,
after each eval, at least every 30 s and before each checkpoint; a checkpoint every `checkpoint_interval`
steps and at the end or a stop; then the model file, the report's final status and (finished runs) a
sample. Over MPI every process runs the session; rank 0 alone prints and saves.
"""

import contextlib
import hashlib
import json
import warnings
from pathlib import Path

import attrs
import numpy as np

from littlebaby import config as configs
from littlebaby.config import block_options
from littlebaby.errors import UserError
from littlebaby.nn.generation import generate as generate_ids
from littlebaby.optim.optimizer import Optimizer
from littlebaby.store import checkpoints
from littlebaby.store import home as files
from littlebaby.store import weights as checkpoint
from littlebaby.store.report import Report
from littlebaby.system import atomic
from littlebaby.system.threads import cores
from littlebaby.text import batches as text
from littlebaby.text import tokenizer as tokenizers
from littlebaby.text.corpus import sampled_digest
from littlebaby.text.tokenizer import Tokenizer
from littlebaby.training import deadline, distributed, sharding
from littlebaby.training.step import thread_count
from littlebaby.training.stopping import StopRequest, handle_signals
from littlebaby.training.trainer import Diverged, Trainer, TrainState

SAMPLE_PROMPT = "ROMEO:"  # the end-of-training sample starts here when the vocabulary allows
SAMPLE_TOKENS = 300
SAMPLE_TEMPERATURE = 0.8


@attrs.define
class RunResult:
    """What train, finetune and import-original return."""

    name: str  # the run name: a guid, or <guid>_finetuned...
    home: Path
    status: str  # "finished", "interrupted" or "imported"
    report: Report
    written: list  # paths of the files written
    sample: str | None = None
    stop_signal: str | None = (
        None  # what interrupted it ("SIGINT", "SIGTERM", "SIGHUP"), or its end's sample (finished)
    )


@attrs.define
class Run:
    """One training session of a run: its files, model, data and where it starts."""

    home: files.Home
    name: str
    config: configs.Config
    tokenizer: Tokenizer
    model: object
    train_ids: np.ndarray
    val_ids: np.ndarray
    report: Report
    written: list  # files this session wrote so far
    optimizer: Optimizer | None = None  # None: a fresh one, of the config's c_optimizer
    state: TrainState | None = None  # None: from step 0

    def __attrs_post_init__(self):
        if self.optimizer is None:
            cfg = self.config
            options = block_options(cfg, cfg.chosen("optimizer"))
            world = distributed.world()
            self.optimizer = sharding.build(cfg, self.model.parameters, options, thread_count(cfg), world)


def _notice(say):
    def notice(signal_name: str):
        again = "Ctrl-C" if signal_name == "SIGINT" else signal_name
        say(
            f"{signal_name}: stopping after this step and saving ({again} again quits at once, after any save "
            "in progress)"
        )

    return notice


@attrs.define
class Saver:
    """Writes a session's files in the order that keeps them consistent; knows the newest checkpoint."""

    run: Run
    step: int | None = None  # of the newest checkpoint (a resumed run starts from one)
    folder: Path | None = None  # of the checkpoint this session wrote last
    writes: bool = True  # False on MPI ranks but 0: they save nothing

    def report(self, report: Report):
        if not self.writes:
            return
        with self._failing_write(self.run.home.report(self.run.name)):
            report.save(self.run.home.report(self.run.name))

    def checkpoint(self, trainer, final: bool):
        """A checkpoint of the trainer's step (and at the end the model file), after the report."""
        run = self.run
        optimizer = sharding.whole(run.optimizer)  # every process: a sharded state is gathered on rank 0
        if not self.writes:
            return
        self.report(run.report)  # first: the report then holds at least the checkpoint's steps
        state = attrs.asdict(trainer.state())
        with self._failing_write(run.home.checkpoints(run.name)):
            done = checkpoints.write(
                run.home.checkpoints(run.name), trainer.step, run.model, optimizer, state, run.report.position()
            )
            self.step, self.folder = trainer.step, done.path
            if final:
                checkpoint.save_model(run.home.model(run.name), run.model)

    @contextlib.contextmanager
    def _failing_write(self, path):
        """A failed write (a full disk, a home gone read-only) as one line; what was saved before stays whole."""
        try:
            yield
        except OSError as error:
            raise UserError(
                f"cannot write {path} ({error.strerror or error})",
                f"free space or fix the folder; {self.resume_hint()}",
                "resume",
            ) from None
        except atomic.WriteError as error:  # a part's atomic write: say which checkpoint is left
            raise UserError(
                f"cannot write {error.path} ({error.reason})",
                f"free space or fix the folder; {self.resume_hint()}",
                "resume",
            ) from None

    def resume_hint(self) -> str:
        if self.step:
            return f"the checkpoint of step {self.step} is intact: {{resume=}}{self.run.name} continues from it"
        return "no checkpoint was saved yet: train again"


def train_session(run: Run, quiet: bool, log, locked: bool = False) -> RunResult:
    """Train run; locked: the caller holds its training lock already (a resume, from before it read the checkpoint)."""
    if locked:
        return _train_session(run, quiet, log)
    with run.home.training_lock(run.name):  # two trainings of one run started together: one trains
        return _train_session(run, quiet, log)


def _train_session(run: Run, quiet: bool, log) -> RunResult:
    world = distributed.world()
    say = log if log and world.is_root else (lambda line: None)
    cfg, home, name = run.config, run.home, run.name
    epochs = text.Epochs(run.train_ids, cfg.n_ctx, cfg.batch_size, cfg.seed)
    val = text.val_windows(run.val_ids, cfg.n_ctx, cfg.eval_windows)
    # every process has checked its inputs; from here on they meet in collectives
    try:
        world.agree()
        refuse_differences(
            world,
            {
                "config": json.dumps(configs.to_dict(cfg), sort_keys=True).encode(),
                "tokenizer": json.dumps(tokenizers.to_file(run.tokenizer), sort_keys=True).encode(),
                "training data": sampled_digest(run.train_ids) + sampled_digest(run.val_ids),
            },
        )
    except UserError:
        if run.state is None and world.is_root:  # a new run no rank can train: rank 0's first files go
            home.forget_new_run(name)
        raise
    world.broadcast(run.model.parameters.data)  # rank 0's parameters and optimizer state, whatever the others read
    sharding.from_root(run.optimizer, world)
    saver = Saver(run, run.state.step if run.state is not None else None, writes=world.is_root)
    stop = StopRequest()
    trainer = Trainer(
        run.model,
        run.optimizer,
        epochs,
        val,
        cfg,
        run.report,
        on_report=saver.report,
        on_checkpoint=saver.checkpoint,
        stop=stop,
        world=world,
    )
    if run.state is not None:
        trainer.load_state(run.state)
    saver.report(run.report)  # a run killed before its first eval is still listed (as killed)
    written = run.written + [p for p in [home.report(name)] if p not in run.written]
    blocks = "/".join(e.name for kind, e in cfg.selected.items() if kind != "tokenizer")
    with handle_signals(stop, notice=_notice(say)), warnings.catch_warnings():
        # said once the signals are handled: a script that waits for this line can stop the run cleanly
        say(
            f"run {name}: {blocks}, {run.model.parameters.size:,} parameters, {trainer.total_steps} steps "
            f"({epochs.steps_per_epoch} per epoch, batch {epochs.batch_size} x {cfg.n_ctx}) on "
            f"{len(run.train_ids):,} {run.tokenizer.name} tokens, "
            + distributed.describe(world, run.report.world["threads_per_process"])
            + (f", resuming at step {trainer.step}" if trainer.step else "")
        )
        busy = world.local_size * run.report.world["threads_per_process"]
        if busy > cores() and world.is_root:
            warnings.warn(
                f"{world.local_size} process(es) x {run.report.world['threads_per_process']} thread(s) on this "
                f"host's {cores()} cores: they will wait on each other, many times slower; lower threads or the "
                "processes per host",
                stacklevel=2,
            )
        # numpy's overflow warnings come before the loss turns NaN: the divergence error says it in one line
        warnings.filterwarnings("ignore", "(overflow|invalid value|divide by zero) encountered", RuntimeWarning)
        try:
            status = trainer.run(quiet=quiet)
        except Diverged as error:
            run.report.diverged(error.step)
            saver.report(run.report)
            # every MPI process diverged at this step (the same all-reduced loss): they all leave with exit 2
            raise distributed.SharedError(
                error.raw_problem, f"{error.raw_fix}; {saver.resume_hint()}", (*error.keys, "resume")
            ) from None
        except UserError as error:  # damaged data met mid-run, a full disk, a late rank: it was not killed
            run.report.stopped("error")
            with contextlib.suppress(UserError):
                saver.report(run.report)
            if isinstance(error, deadline.RankTimeout):  # the job ends: say which checkpoint it keeps
                raise UserError(
                    error.raw_problem, f"{error.raw_fix}; {saver.resume_hint()}", (*error.keys, "resume")
                ) from None
            raise
    stop_signal = stop.signal if status == "interrupted" else None
    if not saver.writes:
        return RunResult(name, home.path, status, run.report, [], stop_signal=stop_signal)
    written += [saver.folder / part for part in (*checkpoints.PARTS, checkpoints.MANIFEST)] + [home.model(name)]
    result = RunResult(name, home.path, status, run.report, written, stop_signal=stop_signal)
    if status == "finished":
        try:
            result.sample = _sample(home, name, run.tokenizer, run.model, cfg.seed)
            written.append(home.completion(name))
        except (
            KeyboardInterrupt
        ):  # Ctrl-C during the end's sample: the run is finished and saved, only the sample is skipped
            result.stop_signal = "SIGINT"
    return result


def _sample(home, name, tokenizer, model, seed) -> str:
    """The end-of-training sample, also written as completion_<run>.txt."""
    prompt = SAMPLE_PROMPT if tokenizer.knows(SAMPLE_PROMPT) else ""
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.start_id()]
    out = generate_ids(model, ids, SAMPLE_TOKENS, SAMPLE_TEMPERATURE, rng=np.random.default_rng(seed))
    sample = prompt + tokenizer.decode(out)
    atomic.write_text(home.completion(name), sample)
    return sample


def refuse_differences(world, parts: dict):
    """Every rank must train on the same inputs: parts (what -> its bytes, or a digest of them) are compared
    with rank 0's, and the first rank whose part differs is named, on every rank, in one line."""
    names = list(parts)
    mine = b"".join(hashlib.sha256(parts[name]).digest() for name in names)
    everyone = world.gather(mine)
    for rank, theirs in enumerate(everyone):
        for i, name in enumerate(names):
            if theirs[32 * i : 32 * i + 32] != everyone[0][32 * i : 32 * i + 32]:
                raise distributed.SharedError(
                    f"rank {rank} of {world.size} has other {name} than rank 0: the ranks would train different runs",
                    "give every rank the same files (copy them to every machine, or one shared copy) and command",
                )
