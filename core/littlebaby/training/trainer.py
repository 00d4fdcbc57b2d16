"""The training loop.

`Trainer.run()` takes steps until the schedule ends or a stop is requested (a signal: the current step
finishes first). A step: its batch (reproducible from the seed), the gradient (step.py), global-norm
clipping, the rate of the schedule, one optimizer update (of every parameter, or with `shard_optimizer` of this
process's part: sharding.py), its record in the report. Every `eval_interval` steps
and at the end, the loss on the fixed val windows. `on_report` is called after each eval and at least every
REPORT_SECONDS; `on_checkpoint` every `checkpoint_interval` steps and at the end, shielded from a second
signal. A loss or gradient that is not finite stops the run (`Diverged`) before the update, so the last
good parameters are never overwritten with NaN.
"""

import math
import resource
import signal
import sys
import time

import attrs
import numpy as np
from tqdm import tqdm

from littlebaby.errors import UserError
from littlebaby.store.records import step_record
from littlebaby.store.report import Report
from littlebaby.training import deadline, distributed, sharding
from littlebaby.training.schedule import learning_rate
from littlebaby.training.step import compute_loss, step_gradients, thread_count
from littlebaby.training.stopping import StopRequest

REPORT_SECONDS = 30.0


def progress_bar(**options):
    """tqdm's widget bar in a Jupyter kernel that has ipywidgets; the text bar elsewhere.

    Without ipywidgets a kernel gets the text bar too (Jupyter, VS Code and Colab render its
    carriage returns); tqdm.auto would pick the same but warn in every such notebook.
    """
    if "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401  (tqdm.notebook draws with it)
            from tqdm.notebook import tqdm as notebook_tqdm
        except ImportError:
            pass
        else:
            return notebook_tqdm(**options)
    return tqdm(**options)


def peak_memory_mb() -> float:
    """Peak resident memory of this process (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def evaluate(model, inputs, targets, batch_size: int, world=None) -> float:
    """Mean loss over the given windows, in eval mode, in chunks of batch_size; with a world of
    several processes each takes its share of the windows and the sums are all-reduced."""
    world = world or distributed.Solo()
    was_training = model.training
    model.eval()
    mine = world.rows(len(inputs))
    total = np.zeros(1)
    for start in range(mine.start, mine.stop, batch_size):
        chunk = slice(start, min(start + batch_size, mine.stop))
        total += compute_loss(model, inputs[chunk], targets[chunk]) * (chunk.stop - chunk.start)
    model.train(was_training)
    return float(world.sum(total)[0]) / len(inputs)


@attrs.frozen
class TrainState:
    """What --resume needs besides the model and AdamW: the steps done and the dropout generator."""

    step: int
    dropout_rng: dict | None = None  # numpy bit generator state (JSON-able)

    @classmethod
    def from_dict(cls, data, source: str) -> "TrainState":
        """A state as saved (attrs.asdict), or a UserError for one that cannot be resumed from."""
        step = data.get("step") if isinstance(data, dict) else None
        rng = data.get("dropout_rng") if isinstance(data, dict) else None
        if isinstance(step, bool) or not isinstance(step, int) or step < 0 or not isinstance(rng, (dict, type(None))):
            raise UserError(f"{source} holds no valid training state", "restore it, or finetune the run instead")
        if rng is not None:
            try:  # numpy checks the generator's name and the state's keys and ranges
                np.random.default_rng().bit_generator.state = rng
            except (TypeError, ValueError, KeyError, OverflowError):
                raise UserError(
                    f"{source} holds a dropout generator state numpy cannot use",
                    "restore it, or finetune the run instead",
                ) from None
        return cls(step, rng)


def total_steps(steps_per_epoch: int, config) -> int:
    """The steps a run of this config trains in all: its epochs, cut at max_steps (0: no cut)."""
    steps = steps_per_epoch * config.num_epochs
    return min(steps, config.max_steps) if config.max_steps else steps


class Diverged(distributed.SharedError):
    """The loss or the gradient stopped being a finite number at `step` (on every MPI process
    at once: they all see the same all-reduced loss and gradient)."""

    def __init__(self, step: int, loss: float, grad_norm: float, lr: float):
        self.step = step
        what = f"the loss is {loss}" if not math.isfinite(loss) else f"the gradient norm is {grad_norm}"
        if step == 1:  # the first loss comes before any update: no learning rate made it
            fix = "no update has run yet, so not the learning rate: a block gives values that are not finite"
        else:
            fix = f"the learning rate is likely too high: lower it (for example {{lr=}}{lr / 4:g})"
        super().__init__(f"training diverged at step {step}: {what}", fix, "lr")


class Trainer:
    def __init__(
        self,
        model,
        optimizer,
        epochs,
        val,
        config,
        report: Report,
        step: int = 0,
        on_report=None,
        on_checkpoint=None,
        stop: StopRequest | None = None,
        world=None,
    ):
        self.model, self.optimizer, self.epochs, self.config = model, optimizer, epochs, config
        self.world = world or distributed.Solo()  # the processes this run trains on (distributed.py)
        self.session_steps = 0  # steps taken by this session (not before a resume)
        self.session_reduce_seconds = 0.0  # and the seconds their all-reduces took
        self.val_inputs, self.val_targets = val
        self.report = report
        self.step = step  # steps done
        self.on_report = on_report or (lambda report: None)
        self.on_checkpoint = on_checkpoint or (lambda trainer, final: None)  # final: the end's (or a stop's) save
        self.stop = stop or StopRequest()
        self.watch = deadline.Watch(config.rank_timeout, self.stop)
        self.update = sharding.updater(optimizer, model.parameters, self.world)  # the whole buffer, or a part
        self.total_steps = total_steps(epochs.steps_per_epoch, config)
        self.tokens_per_step = epochs.batch_size * config.n_ctx
        self.train_seconds = report.train_seconds  # summed unrounded; the report rounds
        world = {  # hosts() is a collective: every rank makes its Trainer
            "processes": self.world.size,
            "hosts": self.world.hosts(),
            "threads_per_process": thread_count(config),
        }
        report.start(self.total_steps, epochs.steps_per_epoch, epochs.batch_size, world)

    # -- one step -------------------------------------------------------------------
    def train_step(self) -> dict:
        config = self.config
        started = time.perf_counter()
        inputs, targets = self.epochs.batch(self.step)
        reduced_before = self.world.reduce_seconds
        loss = step_gradients(
            self.model, inputs, targets, self.step, self.world, config.grad_accum_steps, self.update.reduced_part
        )
        self.session_steps += 1
        grad_norm = self.update.clip(self.model.grad, config.grad_clip)
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            raise Diverged(self.step + 1, float(loss), float(grad_norm), config.lr)
        lr = learning_rate(
            self.step, self.total_steps, config.lr, config.min_lr, config.warmup_steps, config.schedule, config.cooldown
        )
        groups = self.update.step(lr)
        self.step += 1
        seconds = time.perf_counter() - started
        reduce_seconds = self.world.reduce_seconds - reduced_before
        self.session_reduce_seconds += reduce_seconds
        record = step_record(self.step, loss, lr, grad_norm, seconds, self.tokens_per_step, groups)
        if self.world.size > 1:
            record["allreduce_seconds"] = round(reduce_seconds, 5)
        return record

    def evaluate(self) -> float:
        if not self.world.same(self.model.parameters.data):  # the replicas must never drift apart silently
            raise RuntimeError(f"the processes' parameters differ at step {self.step}: a bug, please report it")
        loss = evaluate(self.model, self.val_inputs, self.val_targets, self.config.batch_size, self.world)
        if not math.isfinite(loss):  # the last update broke the weights: stop as at a non-finite training loss
            raise Diverged(self.step, loss, math.nan, self.config.lr)
        self.report.add_val(self.step, loss)
        return loss

    # -- the loop -------------------------------------------------------------------
    def run(self, quiet: bool = False) -> str:
        """Train to the end of the schedule or a stop request; returns "finished" or "interrupted"."""
        self.world.watch = self.watch  # from here collectives end the job past the deadline (deadline.py)
        try:
            return self._run(quiet)
        finally:
            self.world.watch = None

    def _run(self, quiet: bool) -> str:
        self.model.train()
        report = self.report
        last_write = started = time.monotonic()
        bar = progress_bar(
            total=self.total_steps,
            initial=self.step,
            disable=quiet or not self.world.is_root,
            unit="step",
            dynamic_ncols=True,
            leave=True,
        )
        val_loss = None
        try:
            while self.step < self.total_steps and not self.should_stop():
                record = self.train_step()
                self.watch.stepped(self.step, record["seconds"])
                self.train_seconds += record["seconds"]
                report.add_step(record, self.train_seconds)
                postfix = {"loss": f"{record['loss']:.3f}", "tok/s": f"{self.tokens_per_second():.0f}"}
                if self.step % self.config.eval_interval == 0 or self.step == self.total_steps:
                    val_loss = self.evaluate()
                if val_loss is not None:
                    postfix["val"] = f"{val_loss:.3f}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                if self.step % self.config.eval_interval == 0 or time.monotonic() - last_write > REPORT_SECONDS:
                    self.finish_report("running")
                    last_write = time.monotonic()
                interval = self.config.checkpoint_interval
                if interval and self.step % interval == 0 and self.step < self.total_steps:
                    with self.stop.deferred():  # "again quits at once, after any save in progress": this one too
                        self.on_checkpoint(self, False)
        finally:
            bar.close()
            report.add_wall_seconds(time.monotonic() - started)
        if self.step >= self.total_steps and report.last_val_step != self.step:
            self.evaluate()  # resumed at the very end, or a schedule of zero steps
        status = "finished" if self.step >= self.total_steps else "interrupted"
        with self.stop.deferred():  # a second signal now would cut the last save short: it waits
            report.stopped_by(self.stop.signal if status == "interrupted" else None)
            self.on_checkpoint(self, True)
            self.finish_report(status)
        return status

    def should_stop(self) -> bool:
        """The stop request, agreed by every process (a tiny all-reduce before each step): a signal
        that reached any one of them stops them all after the same step, under the same signal."""
        asked = self.stop.signal
        code = 0 if asked is None else getattr(signal, asked, 0) + 1  # 1: asked from code, not by a signal
        agreed = self.world.max(int(code))
        if agreed and asked is None:
            self.stop.request(signal.Signals(agreed - 1).name if agreed > 1 else "request")
        # the agreed answer, not the local flag read again: a signal landing after the all-reduce would
        # stop this process alone while the others go on into the step's all-reduce and wait forever
        # (the next step's agreement stops them all)
        return agreed > 0

    def tokens_per_second(self) -> float | None:
        """Over every step so far (of this session and before a resume): steadier than one step's."""
        steps = self.report.step_count
        return round(steps * self.tokens_per_step / self.train_seconds, 1) if self.train_seconds else None

    def finish_report(self, status: str):
        reduce = (
            self.session_reduce_seconds / self.session_steps if self.world.size > 1 and self.session_steps else None
        )
        self.report.progress(status, self.step, self.tokens_per_second(), peak_memory_mb(), reduce)
        self.on_report(self.report)

    def state(self) -> TrainState:
        return TrainState(self.step, self.model.rng.bit_generator.state)

    def load_state(self, state: TrainState):
        self.step = state.step
        if state.dropout_rng:
            rng = np.random.default_rng()
            rng.bit_generator.state = state.dropout_rng
            self.model.set_rng(rng)
