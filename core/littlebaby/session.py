"""One training session of a run: the trainer, its signals, its checkpoints, the final save and sample.

runs.py prepares a `Run` (new, resumed or finetuned) and hands it here. What
is saved when:

- the report, at the start, after each eval, at least every 30 s, and before
  each checkpoint (so it always holds at least the checkpoint's steps);
- a checkpoint (checkpoints.py) every `checkpoint_interval` steps, and at the
  end or at a stop;
- models/model_<run>.safetensors at the end or at a stop, after the last
  checkpoint; then the report's final status, then (finished runs) a sample.

Signals (stopping.py) stop the run after the current step; the run returns
status "interrupted" with the signal in `stop_signal`. A loss that is not a
number stops it with a one-line error and the last good checkpoint kept.
"""

import contextlib
import warnings
from pathlib import Path

import attrs
import numpy as np

from littlebaby import checkpoint, checkpoints, config as configs, files, report as reports, text
from littlebaby.errors import UserError
from littlebaby.generation import generate as generate_ids
from littlebaby.optim import AdamW
from littlebaby.stopping import StopRequest, handle_signals
from littlebaby.tokenizer import Tokenizer
from littlebaby.training import Diverged, Trainer, TrainState

SAMPLE_PROMPT = "ROMEO:"  # the end-of-training sample starts here when the vocabulary allows
SAMPLE_TOKENS = 300
SAMPLE_TEMPERATURE = 0.8


@attrs.define
class RunResult:
    """What train, finetune and import-original return."""

    name: str  # the run name: a guid, or <guid>_finetuned...
    home: Path
    status: str  # "finished", "interrupted" or "imported"
    report: dict
    written: list  # paths of the files written
    sample: str | None = None
    stop_signal: str | None = None  # what interrupted it: "SIGINT", "SIGTERM", "SIGHUP"


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
    report: dict
    written: list  # files this session wrote so far
    optimizer: AdamW | None = None  # None: a fresh AdamW
    state: TrainState | None = None  # None: from step 0

    def __attrs_post_init__(self):
        if self.optimizer is None:
            cfg = self.config
            self.optimizer = AdamW(self.model.parameters, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)


def _notice(say):
    def notice(signal_name: str):
        again = "Ctrl-C" if signal_name == "SIGINT" else signal_name
        say(f"{signal_name}: stopping after this step and saving ({again} again quits at once, after any save in progress)")

    return notice


def train_session(run: Run, quiet: bool, log) -> RunResult:
    say = log or (lambda line: None)
    cfg, home, name = run.config, run.home, run.name
    epochs = text.Epochs(run.train_ids, cfg.n_ctx, cfg.batch_size, cfg.seed)
    val = text.val_windows(run.val_ids, cfg.n_ctx, cfg.eval_windows)
    report_path = home.report(name)
    saved = [run.state.step if run.state is not None else None, None]  # the newest checkpoint: step, folder

    def write_report(report):
        with _saving(report_path, name, saved[0]):
            reports.write(report_path, report)

    def save(trainer, final: bool):
        write_report(run.report)  # first: the report then holds at least the checkpoint's steps
        state = attrs.asdict(trainer.state())
        with _saving(home.checkpoints(name), name, saved[0]):
            done = checkpoints.write(home.checkpoints(name), trainer.step, run.model, run.optimizer, state, reports.position(run.report))
            saved[:] = [trainer.step, done.path]
            if final:
                checkpoint.save_model(home.model(name), run.model)

    stop = StopRequest()
    trainer = Trainer(run.model, run.optimizer, epochs, val, cfg, run.report, on_report=write_report, on_checkpoint=save, stop=stop)
    if run.state is not None:
        trainer.load_state(run.state)
    write_report(run.report)  # a run killed before its first eval is still listed (as killed)
    written = run.written + ([] if report_path in run.written else [report_path])
    blocks = "/".join(e.name for e in run.model.entries.values())
    say(
        f"run {name}: {blocks}, {run.model.parameters.size:,} parameters, {trainer.total_steps} steps "
        f"({epochs.steps_per_epoch} per epoch, batch {epochs.batch_size} x {cfg.n_ctx}) on {len(run.train_ids):,} characters"
        + (f", resuming at step {trainer.step}" if trainer.step else "")
    )
    with handle_signals(stop, notice=_notice(say)), warnings.catch_warnings():
        # numpy's overflow warnings come before the loss turns NaN: the divergence error says it in one line
        warnings.filterwarnings("ignore", "(overflow|invalid value|divide by zero) encountered", RuntimeWarning)
        try:
            status = trainer.run(quiet=quiet)
        except Diverged as error:
            reports.diverged(run.report, error.step)
            write_report(run.report)
            raise _diverged(error, name, cfg, saved[0]) from None
    written += [saved[1] / part for part in (*checkpoints.PARTS, checkpoints.MANIFEST)] + [home.model(name)]
    result = RunResult(name, home.path, status, run.report, written, stop_signal=stop.signal if status == "interrupted" else None)
    if status == "finished":
        result.sample = _sample(home, name, run.tokenizer, run.model, cfg.seed)
        written.append(home.completion(name))
    return result


@contextlib.contextmanager
def _saving(path, name: str, saved_step: int | None):
    """A failed write (a full disk, a home gone read-only) as one line; what was saved before stays whole."""
    try:
        yield
    except OSError as error:
        kept = f"the checkpoint of step {saved_step} is intact: resume={name} continues from it" if saved_step else "train again"
        raise UserError(f"cannot write {path} ({error.strerror or error})", f"free space or fix the folder; {kept}") from None


def _diverged(error: Diverged, name: str, cfg, saved_step: int | None) -> UserError:
    lower = f"lower lr (for example lr={cfg.lr / 4:g})"
    if saved_step:
        fix = f"the learning rate is likely too high: {lower} and resume={name} continues from the last good checkpoint (step {saved_step})"
    else:
        fix = f"the learning rate is likely too high: {lower} and train again"
    return UserError(error.problem, fix)


def _sample(home, name, tokenizer, model, seed) -> str:
    """The end-of-training sample, also written as completion_<run>.txt."""
    prompt = SAMPLE_PROMPT if all(c in tokenizer.ids for c in SAMPLE_PROMPT) else ""
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.start_id()]
    out = generate_ids(model, ids, SAMPLE_TOKENS, SAMPLE_TEMPERATURE, rng=np.random.default_rng(seed))
    sample = prompt + tokenizer.decode(out)
    files.write_text(home.completion(name), sample)
    return sample
