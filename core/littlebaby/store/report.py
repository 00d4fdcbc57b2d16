"""A run's report, outputs/report_<run>.json: `Report` owns its keys; nothing else reads or writes them.

The file is a JSON object, rewritten after each eval and at least every few seconds while a run trains:

    guid, name, base, created, littlebaby_version      the run, its readable name, the run it was finetuned from
    config_name, overrides, config, blocks,            what was trained (new_characters: a finetune's)
      parameters, vocab_size, new_characters
    data: {source, ..., val_bytes, split}              what it was trained on (records.Data)
    writer: {pid, host}, world, environment            who trains it now (or last), its MPI world, Python, BLAS
    total_steps, steps_per_epoch, batch_size           the schedule, set when training starts
    steps, val, best_val_loss, best_val_step, best_val_bpb    one record per step and per eval
    status, stop_signal, diverged_at, resumed          running, finished, interrupted, diverged or imported
    steps_done, train_seconds, wall_seconds, tokens_per_second, peak_memory_mb

`Report.read` is strict (resume and plot need the whole report); `Report.listed` reads tolerantly for
`runs` ('?' for what a damaged report lacks, never a failure; "killed": running, but its writer is gone).
"""

import datetime
import os
import socket

import attrs

import littlebaby
from littlebaby.config import to_dict
from littlebaby.errors import UserError, shown
from littlebaby.store.records import Data, Summary, environment, listed_blocks, problem, read_limit, value_of
from littlebaby.store.report_writer import ReportWriter
from littlebaby.store.weights import plugin_metadata
from littlebaby.system import memory, processes, reading
from littlebaby.text.corpus import bits_per_byte


class Report:
    """One run's report: `data` is the JSON object as written (read it, do not change it from outside)."""

    def __init__(self, data: dict):
        self.data = data
        self.writer = ReportWriter()  # keeps the records' text: a write serialises only what is new

    # -- making and saving ---------------------------------------------------------------
    @classmethod
    def new(
        cls,
        name: str,
        config,
        config_name: str,
        model,
        data: Data,
        base: str | None = None,
        new_characters=None,
        label: str | None = None,
        overrides: dict | None = None,
    ):
        report = cls(
            {
                "guid": name,  # the run name: a uuid4, with _finetuned... for a finetune
                "name": label or config_name,  # for people: --name, or the config and its overrides
                "base": base,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "littlebaby_version": littlebaby.__version__,
                "config_name": config_name,
                "overrides": dict(overrides or {}),  # what the user changed of the config (train --set)
                "config": to_dict(config),
                "blocks": plugin_metadata(model),
                "parameters": int(model.parameters.size),
                "vocab_size": model.vocab_size,
                "data": attrs.asdict(data),
                "environment": environment(),
            }
        )
        if new_characters is not None:  # a finetune: the characters its text added to the vocabulary
            report.data["new_characters"] = new_characters
        return report

    def save(self, path):
        """The report file, replaced whole (a temporary renamed into place)."""
        self.writer.write(path, self.data)

    # -- a training session ----------------------------------------------------------------
    def start(self, total_steps: int, steps_per_epoch: int, batch_size: int, world: dict):
        """The schedule of the training about to start (again, when resumed), by this process."""
        self.data.setdefault("steps", [])
        self.data.setdefault("val", [])
        self.data.update(
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
            batch_size=batch_size,
            status="running",
            writer={"pid": os.getpid(), "host": socket.gethostname(), "machine": processes.machine()},
            world=world,
        )
        for key in ("stop_signal", "diverged_at"):  # of an earlier session: this one has neither stopped nor diverged
            self.data.pop(key, None)

    def add_step(self, record: dict, train_seconds: float):
        self.data["steps"].append(record)
        self.data["train_seconds"] = round(train_seconds, 3)

    def add_val(self, step: int, loss: float):
        record = {"step": step, "loss": round(loss, 5)}
        bytes_per_token = (self.data.get("data") or {}).get("val_bytes_per_token")
        if bytes_per_token:  # comparable across tokenizers
            record["bpb"] = round(bits_per_byte(loss, bytes_per_token), 5)
        self.data["val"].append(record)
        self._keep_if_best(record)

    def _keep_if_best(self, record: dict):
        if self.data.get("best_val_loss") is None or record["loss"] < self.data["best_val_loss"]:
            self.data.update(best_val_loss=record["loss"], best_val_step=record["step"], best_val_bpb=record.get("bpb"))

    def add_wall_seconds(self, seconds: float):
        """Wall time includes evals and report writes; train_seconds only the steps."""
        self.data["wall_seconds"] = round(self.data.get("wall_seconds", 0.0) + seconds, 3)

    def progress(self, status: str, steps_done: int, tokens_per_second, peak_memory_mb: float, allreduce_seconds=None):
        self.data.update(
            status=status, steps_done=steps_done, tokens_per_second=tokens_per_second, peak_memory_mb=peak_memory_mb
        )
        if allreduce_seconds is not None:
            self.data["world"]["allreduce_seconds_per_step"] = round(allreduce_seconds, 6)

    def stopped(self, status: str):
        """The session ended early, by a mistake it could not go past ("error"): the last checkpoint stands."""
        self.data["status"] = status

    def stopped_by(self, signal_name: str | None):
        self.data["stop_signal"] = signal_name

    def diverged(self, step: int):
        """The loss stopped being a number at `step`: what the last good steps were stays."""
        self.data.update(status="diverged", diverged_at=step, steps_done=step - 1)

    def imported(self):
        self.data.update(status="imported", steps_done=0)

    # -- resuming ----------------------------------------------------------------------------
    def position(self) -> dict:
        """Where the report stands, saved with each checkpoint: resuming from it forgets what came later."""
        return {
            "steps": len(self.data["steps"]),
            "val": len(self.data["val"]),
            "train_seconds": self.train_seconds,
            "wall_seconds": self.data.get("wall_seconds", 0.0),
        }

    def rewind(self, saved: dict, step: int):
        """The report as it was at a checkpoint of `step`: later step and val records were not kept by it."""
        data = self.data
        data["steps"] = [s for s in data.get("steps", [])[: saved.get("steps")] if s.get("step", 0) <= step]
        data["val"] = [v for v in data.get("val", [])[: saved.get("val")] if v.get("step", 0) <= step]
        for key in ("best_val_loss", "best_val_step", "best_val_bpb"):
            data.pop(key, None)
        for record in data["val"]:
            self._keep_if_best(record)
        data.update(
            train_seconds=saved.get("train_seconds", 0.0), wall_seconds=saved.get("wall_seconds", 0.0), steps_done=step
        )

    def resumed(self, config, step: int):
        """A resume from `step`, possibly with a changed recipe (e.g. max_steps)."""
        self.data["config"] = to_dict(config)
        self.data.setdefault("resumed", []).append(step)

    def trained_elsewhere(self) -> int | None:
        """The pid of another live process training this run now, or None."""
        writer = self.data.get("writer")
        if self.data.get("status") == "running" and self.writer_alive() and writer["pid"] != os.getpid():
            return writer["pid"]
        return None

    def writer_alive(self) -> bool:
        """Whether the process that last trained the run is still running (on this machine: elsewhere, assume so)."""
        writer = self.data.get("writer")
        if not isinstance(writer, dict) or not isinstance(writer.get("pid"), int):
            return False
        if writer.get("host") != socket.gethostname():
            return True  # another node sharing the home: assume so
        return processes.writer_alive(writer["pid"], writer.get("machine"))

    def read_again(self, data: Data):
        """What a resume read of the run's data, as it was cut (runs made before the split by bytes say so)."""
        self.data["data"] = attrs.asdict(data)

    def trained_on(self, path) -> Data:
        """The recorded data of the run (for resume), or a UserError for a report without it."""
        data = self.data.get("data")
        try:
            counts = {key: data.get(key) for key in ("train_tokens", "val_tokens", "val_bytes", "val_bytes_per_token")}
            counts["split"] = data.get("split", "tokens")
            # reports before the key: a prepared directory was the source with no characters and no sha256
            counts["prepared"] = data.get("prepared", int(data["characters"]) == 0 and data.get("sha256") is None)
            return Data(
                str(data["source"]),
                data.get("shipped"),
                int(data["characters"]),
                data.get("sha256"),
                data.get("rereadable", True) is not False,
                **counts,
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            raise UserError(
                f"report file {path} does not record the run's data", "finetune the run on its data instead"
            ) from None

    # -- reading -------------------------------------------------------------------------------
    @property
    def train_seconds(self) -> float:
        return self.data.get("train_seconds", 0.0)

    @property
    def step_count(self) -> int:
        return len(self.data["steps"])

    @property
    def last_val_step(self) -> int | None:
        return self.data["val"][-1]["step"] if self.data.get("val") else None

    @property
    def world(self) -> dict:
        return self.data.get("world", {})

    def summary(self) -> Summary:
        return Summary.of(self.data)

    def curves(self) -> tuple[list, list, int]:
        """(step records, val records, tokens per step) for the training figure."""
        config = self.data.get("config", {})
        return self.data.get("steps", []), self.data.get("val", []), config["batch_size"] * config["n_ctx"]

    def val_curve(self) -> tuple[list, list, list]:
        """(steps, training seconds so far, val loss) of each val record; seconds count the steps only, not evals."""
        elapsed, total = {}, 0.0
        for record in self.data.get("steps", []):
            total += record.get("seconds", 0.0)
            elapsed[record["step"]] = total
        steps = [v["step"] for v in self.data.get("val", [])]
        return steps, [elapsed.get(s, 0.0) for s in steps], [v["loss"] for v in self.data.get("val", [])]

    @classmethod
    def read(cls, path, run: str | None = None) -> "Report":
        """The whole report of a run (of `run`, when given), or a one-line UserError: every part resume
        and plot use is checked here, so a damaged report fails in one line rather than deep inside a figure."""
        data = reading.read_json(path, "report file", read_limit(), memory.JSON_FIX)
        damage = problem(data)
        if damage:
            raise UserError(f"report file {path} is not a littlebaby report ({damage})", "restore or regenerate it")
        owner = data.get("guid")
        if run is not None and isinstance(owner, str) and owner != run:  # copied or swapped between runs
            raise UserError(
                f"report file {path} is the report of run {shown(owner)}, not of {run}", "restore this run's own report"
            )
        return cls(data)

    @classmethod
    def tolerant(cls, path, limit: int | None = None) -> "Report":
        """The report at path for a listing: an empty one where it is missing or unreadable."""
        try:
            return cls(reading.read_json(path, "report file", limit or read_limit()))
        except UserError:
            return cls({})

    def listed(self) -> dict:
        """What `runs` shows of the report, tolerantly: '?' (or None) for whatever is unreadable."""
        data = self.data
        config = value_of(data, "config", dict, {})
        status = value_of(data, "status", str)
        seconds = [
            s
            for r in value_of(data, "steps", list, [])
            if isinstance(r, dict)
            if isinstance(s := r.get("seconds"), (int, float))
        ]
        return {
            "created": value_of(data, "created", str, ""),
            "config_name": value_of(data, "config_name", str),
            "name": value_of(data, "name", str, None) or value_of(data, "config_name", str),
            "overrides": value_of(data, "overrides", dict, {}),
            # bits per byte compare across runs when val is the same bytes for every tokenizer
            "bpb_comparable": value_of(value_of(data, "data", dict, {}), "split", str, None) == "bytes",
            "config": config,
            "blocks": listed_blocks(config),
            "tokenizer": value_of(config, "c_tokenizer", str, "char"),  # older runs have no key: char
            "status": "killed" if status == "running" and not self.writer_alive() else status,
            "parameters": value_of(data, "parameters", int, None),
            "steps_done": value_of(data, "steps_done", int, None),
            "step_seconds": seconds,
            **{
                key: value_of(data, key, (int, float), None)
                for key in ("best_val_loss", "best_val_bpb", "train_seconds")
            },
        }
