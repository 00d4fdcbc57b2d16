"""The training loop and the report it keeps.

`Trainer.run()` takes steps until the schedule ends or a stop is requested
(Ctrl-C: the current step finishes first). A step is: the batch of that step
(text.Epochs, reproducible from the seed), gradients through
`step.compute_gradients` (the one place they are computed), global-norm
clipping, the learning rate of the schedule, one AdamW update. Every
`eval_interval` steps and at the end, the loss on the fixed val windows.

The report (a JSON-able dict) records the config, the parameter count, one
record per step (`step_record`: loss, lr, gradient norm, time, tokens/s, and
per parameter group the gradient norm and update-to-weight ratio), every val loss, the
best one, throughput, peak memory and the environment. `on_report` is called
after each eval and at least every REPORT_SECONDS, so an interrupted run keeps
its report.
"""

import contextlib
import platform
import resource
import signal
import sys
import threading
import time

import numpy as np
from tqdm import tqdm

from littlebaby.inspect import GroupStats
from littlebaby.optim import clip_grad_norm
from littlebaby.schedule import learning_rate
from littlebaby.step import compute_gradients

REPORT_SECONDS = 30.0


def environment() -> dict:
    """Python, numpy and BLAS as reported by numpy, for the report."""
    info = {"python": platform.python_version(), "platform": platform.platform(), "numpy": np.__version__}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration") if k in blas}
        info["simd"] = config.get("SIMD Extensions", {}).get("found")
    except (TypeError, AttributeError):  # numpy older than 1.26 has no mode="dicts"
        info["blas"] = None
    return info


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


def evaluate(model, inputs, targets, batch_size: int) -> float:
    """Mean loss over the given windows, in eval mode, in chunks of batch_size."""
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, len(inputs), batch_size):
        chunk = slice(start, start + batch_size)
        total += model.loss(inputs[chunk], targets[chunk]) * len(inputs[chunk])
    model.train(was_training)
    return total / len(inputs)


class Trainer:
    def __init__(self, model, optimizer, epochs, val, config, report: dict, step: int = 0, on_report=None):
        self.model, self.optimizer, self.epochs, self.config = model, optimizer, epochs, config
        self.val_inputs, self.val_targets = val
        self.report = report
        self.step = step  # steps done
        self.on_report = on_report or (lambda report: None)
        self.stop_requested = False
        self.group_stats = GroupStats(model.parameters)
        steps = epochs.steps_per_epoch * config.num_epochs
        self.total_steps = min(steps, config.max_steps) if config.max_steps else steps
        self.tokens_per_step = epochs.batch_size * config.n_ctx
        self.train_seconds = report.get("train_seconds", 0.0)  # summed unrounded; the report rounds
        report.setdefault("steps", [])
        report.setdefault("val", [])
        report.update(total_steps=self.total_steps, steps_per_epoch=epochs.steps_per_epoch, batch_size=epochs.batch_size)

    # -- one step -------------------------------------------------------------------
    def train_step(self) -> dict:
        config = self.config
        started = time.perf_counter()
        inputs, targets = self.epochs.batch(self.step)
        loss = compute_gradients(self.model, inputs, targets)
        grad_norm = clip_grad_norm(self.model.grad, config.grad_clip)
        lr = learning_rate(self.step, self.total_steps, config.lr, config.min_lr, config.warmup_steps)
        weight_sq = self.group_stats.squared_norms(self.model.parameters.data)
        self.optimizer.step(self.model.grad, lr)
        self.step += 1
        seconds = time.perf_counter() - started
        groups = self.group_stats.step_stats(self.model.grad, weight_sq, self.optimizer.update)
        return self.step_record(loss, lr, grad_norm, seconds, groups)

    def step_record(self, loss, lr, grad_norm, seconds, groups) -> dict:
        """What the report keeps of one step; groups: per parameter group, the norm of the
        gradient as applied (after clipping) and |update| / |weights| (inspect.GroupStats)."""
        return {
            "step": self.step,
            "loss": round(float(loss), 5),
            "lr": float(lr),
            "grad_norm": round(float(grad_norm), 5),
            "seconds": round(seconds, 5),
            "tokens_per_second": round(self.tokens_per_step / seconds, 1),
            "groups": {name: {k: float(f"{v:.4g}") for k, v in stats.items()} for name, stats in groups.items()},
        }

    def evaluate(self) -> float:
        loss = evaluate(self.model, self.val_inputs, self.val_targets, self.config.batch_size)
        self.report["val"].append({"step": self.step, "loss": round(loss, 5)})
        best = self.report.get("best_val_loss")
        if best is None or loss < best:
            self.report["best_val_loss"], self.report["best_val_step"] = round(loss, 5), self.step
        return loss

    # -- the loop -------------------------------------------------------------------
    def run(self, quiet: bool = False) -> str:
        """Train to the end of the schedule or a stop request; returns "finished" or "interrupted"."""
        self.model.train()
        report = self.report
        report["status"] = "running"
        last_write = started = time.monotonic()
        bar = progress_bar(total=self.total_steps, initial=self.step, disable=quiet, unit="step", dynamic_ncols=True, leave=True)
        val_loss = None
        try:
            while self.step < self.total_steps and not self.stop_requested:
                record = self.train_step()
                report["steps"].append(record)
                self.train_seconds += record["seconds"]
                report["train_seconds"] = round(self.train_seconds, 3)
                rate = len(report["steps"]) * self.tokens_per_step / self.train_seconds  # steadier than one step's
                postfix = {"loss": f"{record['loss']:.3f}", "tok/s": f"{rate:.0f}"}
                if self.step % self.config.eval_interval == 0 or self.step == self.total_steps:
                    val_loss = self.evaluate()
                if val_loss is not None:
                    postfix["val"] = f"{val_loss:.3f}"
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                if self.step % self.config.eval_interval == 0 or time.monotonic() - last_write > REPORT_SECONDS:
                    self.finish_report("running")
                    last_write = time.monotonic()
        finally:
            bar.close()
            # wall time includes evals and report writes; train_seconds only the steps
            report["wall_seconds"] = round(report.get("wall_seconds", 0.0) + time.monotonic() - started, 3)
        if self.step >= self.total_steps and (not report["val"] or report["val"][-1]["step"] != self.step):
            self.evaluate()  # resumed at the very end, or a schedule of zero steps
        status = "finished" if self.step >= self.total_steps else "interrupted"
        self.finish_report(status)
        return status

    def finish_report(self, status: str):
        report = self.report
        report["status"] = status
        report["steps_done"] = self.step
        seconds = self.train_seconds
        report["tokens_per_second"] = round(len(report["steps"]) * self.tokens_per_step / seconds, 1) if seconds else None
        report["peak_memory_mb"] = peak_memory_mb()
        self.on_report(report)

    def state(self) -> dict:
        """What --resume needs besides the model and AdamW: the step and the dropout generator."""
        rng = self.model.layers[0].rng if self.model.layers else None
        return {"step": self.step, "dropout_rng": rng.bit_generator.state if rng is not None else None}

    def load_state(self, state: dict):
        self.step = int(state["step"])
        if state.get("dropout_rng"):
            rng = np.random.default_rng()
            rng.bit_generator.state = state["dropout_rng"]
            self.model.set_rng(rng)


@contextlib.contextmanager
def stop_on_sigint(trainer: Trainer, notice=None):
    """While active, the first Ctrl-C asks the trainer to stop after the current step;
    a second one interrupts at once. Outside the main thread signals cannot be caught: no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        if notice is not None:
            notice()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
