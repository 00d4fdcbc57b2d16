"""The home: the folder of run files, where each file of a run lives, run names and `last`.

A run is named by a uuid4 (`guid`); a finetune of run R is named `R_finetuned` (then `R_finetuned2`, ...
so a base is never overwritten). Its files, relative to the home (default: the current directory):

    configs/config_<run>.json        models/model_<run>.safetensors (at the end, or a stop)
    tokenizers/tokenizer_<run>.json  checkpoints/<run>/step_<N>/ (for resume, checkpoints.py)
    outputs/report_<run>.json        outputs/completion_<run>[_<yyyymmddhhmmss>].txt

A run exists from the moment its config file does: names are reserved by creating it exclusively, so
concurrent commands never pick the same name. Files are written atomically (system/atomic.py); the
temporaries of a writer that died are removed by the next command in the home (`clean_leftovers`).
"""

import contextlib
import datetime
import errno
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from littlebaby.errors import UserError, shown
from littlebaby.store.report import Report
from littlebaby.system import arguments
from littlebaby.system.atomic import reserve
from littlebaby.system.processes import is_leftover

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
RUN_NAME = re.compile(rf"{GUID}(?:_finetuned\d*)*")
FOLDERS = ("configs", "tokenizers", "models", "outputs")


def new_guid() -> str:
    return str(uuid.uuid4())


def timestamp() -> str:
    """yyyymmddhhmmss in UTC, for names of later completions."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


class Home:
    """The directory holding run files, and the path of each file of a run."""

    def __init__(self, path="."):
        if isinstance(path, str) and not path:  # Path("") would quietly be the current directory
            raise UserError("the home is an empty path", "give a directory, or . for the current one")
        self.path = arguments.given_path(path, "home", "runs")

    def config(self, run: str) -> Path:
        return self.path / "configs" / f"config_{run}.json"

    def tokenizer(self, run: str) -> Path:
        return self.path / "tokenizers" / f"tokenizer_{run}.json"

    def model(self, run: str) -> Path:
        return self.path / "models" / f"model_{run}.safetensors"

    def optimizer(self, run: str) -> Path:
        """Where littlebaby before checkpoint folders kept AdamW's state (still read by resume)."""
        return self.path / "models" / f"optimizer_{run}.safetensors"

    def report(self, run: str) -> Path:
        return self.path / "outputs" / f"report_{run}.json"

    def checkpoints(self, run: str) -> Path:
        return self.path / "checkpoints" / run

    def completion(self, run: str, stamp: str | None = None) -> Path:
        """completion_<run>.txt, or for a later generate completion_<run>_<stamp>.txt, reserved
        (created empty) so that concurrent generates in the same second never share one."""
        if stamp is None:
            return self.path / "outputs" / f"completion_{run}.txt"
        path, number = self.path / "outputs" / f"completion_{run}_{stamp}.txt", 2
        while not reserve(path):
            path = self.path / "outputs" / f"completion_{run}_{stamp}-{number}.txt"
            number += 1
        return path

    @contextlib.contextmanager
    def training_lock(self, run: str, patience: float = 0.0):
        """Held while this process trains `run`; another process is refused (after `patience` seconds of
        waiting for it to let go: a trainer whose job just ended may take a moment to leave). The system drops
        the lock when its holder dies, however it dies, so a killed run never stays locked."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): the report's writer pid is the only guard
            yield
            return
        path = self.checkpoints(run) / "lock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(path, "a")
        except OSError as error:  # a folder or a symlink loop where the lock file goes
            raise UserError(
                f"cannot open the lock file {path} ({error.strerror or error})", "remove it; it is recreated"
            ) from None
        with f:
            deadline = time.monotonic() + patience
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise UserError(
                            f"run {run} is being trained by another process", "wait for it to end, or stop it first"
                        ) from None
                    time.sleep(0.1)
            yield

    def forget_new_run(self, run: str):
        """Remove what a new run wrote before it could train (its report, model, tokenizer, config and lock), so
        that no ghost run is listed; missing files are fine."""
        for path in (self.report(run), self.model(run), self.tokenizer(run), self.config(run)):
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            (self.checkpoints(run) / "lock").unlink()
            self.checkpoints(run).rmdir()

    def clean_leftovers(self):
        """Remove the temporary files and folders of writers that died (SIGKILL, power loss)."""
        folders = [self.path / f for f in FOLDERS]
        with contextlib.suppress(OSError):
            folders += [p for p in (self.path / "checkpoints").iterdir() if p.is_dir()]
        for folder in folders:
            with contextlib.suppress(OSError):
                for path in folder.iterdir():
                    if is_leftover(path):
                        with contextlib.suppress(OSError):
                            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()

    def check_writable(self):
        """A UserError unless run files can be created here; creates nothing that stays."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise UserError(f"home {path} is not a directory", "pass a directory as {home=}DIR", "home")
        self.refuse_broken_link()
        existing = path
        while not existing.exists():  # the home may not exist yet: its nearest ancestor decides
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(
                f"home {path} cannot be created ({existing} is a file)", "pass a directory as {home=}DIR", "home"
            )
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as error:
            raise UserError(
                f"home {path} is not writable ({error.strerror})", "pass a writable directory as {home=}DIR", "home"
            ) from None
        for folder in (*FOLDERS, "checkpoints"):  # a file or a symlink loop in a folder's place fails every later write
            if os.path.lexists(path / folder) and not (path / folder).is_dir():
                raise UserError(
                    f"{path / folder} in the home is not a directory",
                    "move it away, or pass another {home=}DIR",
                    "home",
                )
        self.clean_leftovers()

    def refuse_broken_link(self):
        """A UserError if the home is a link that leads nowhere: mkdir would say only "File exists",
        and a listing would find no runs in it."""
        path = self.path
        if not path.is_symlink() or path.exists():
            return
        try:
            os.stat(path)  # which of the two: a loop is ELOOP
        except OSError as error:
            problem = (
                "a loop of symbolic links" if error.errno == errno.ELOOP else "a symbolic link to a missing directory"
            )
            raise UserError(
                f"home {path} is {problem}", "pass a directory as {home=}DIR, or fix the link", "home"
            ) from None

    def runs(self) -> list[str]:
        """Names of the runs in the home, least recently changed first. A run is there once its
        config or model file is: a run killed before its first checkpoint is listed too."""
        self.refuse_broken_link()
        names = set()
        for folder, prefix, suffix in (("configs", "config_", ".json"), ("models", "model_", ".safetensors")):
            with contextlib.suppress(OSError):
                for path in (self.path / folder).glob(f"{prefix}*{suffix}"):
                    name = path.name[len(prefix) : -len(suffix)]
                    if RUN_NAME.fullmatch(name):
                        names.add(name)
        return sorted(names, key=lambda name: (self._changed(name, self.config(name), self.report(name)), name))

    def _changed(self, run: str, *paths) -> int:
        """Newest mtime of paths and of the run's model (file, or checkpoint folders); 0 if none exists."""
        times = [0]
        for path in (*paths, self.model(run), *self.checkpoints(run).glob("step_*")):
            with contextlib.suppress(OSError):
                times.append(path.lstat().st_mtime_ns)
        return max(times)

    def resolve(self, run: str) -> str:
        """A run name from a user: `last`, a run's GUID name or a unique prefix of one, or its readable name.

        `last` is the run with the newest model: a model file or a checkpoint (a run killed
        mid-way has one); a run that has neither yet, such as a finetune that just started,
        is never `last`.
        """
        if not isinstance(run, str):
            raise UserError(
                f"{{run}} must be a run name or 'last', got {shown(run)}", "for example {run=}'last'", "run"
            )
        runs = self.runs()
        where = os.path.abspath(self.path)  # not Path.resolve: a home that is a loop of links raises there
        if run == "last":
            with_model = [name for name in runs if self._changed(name)]
            if not with_model:
                raise UserError(f"no runs with a model in {where}", "train one first, or pass {home=}DIR", "home")
            return max(with_model, key=lambda name: (self._changed(name), name))
        if run in runs:
            return run
        matches = [name for name in runs if name.startswith(run) and "_finetuned" not in name[len(run) :]]
        if len(matches) == 1 and len(run) >= 4:
            return matches[0]
        if len(matches) > 1 and len(run) >= 4:
            some = ", ".join(matches[:3]) + (" ..." if len(matches) > 3 else "")
            raise UserError(
                f"{run!r} is the beginning of {len(matches)} runs in {where} ({some})", "give more of the name"
            )
        named = [name for name in runs if Report.tolerant(self.report(name)).listed()["name"] == run]
        if len(named) == 1:
            return named[0]
        if named:
            some = ", ".join(named[:3]) + (" ..." if len(named) > 3 else "")
            raise UserError(
                f"{len(named)} runs in {where} are named {run!r} ({some})", "give the run's GUID (or a prefix)"
            )
        hint = f"known runs: {', '.join(runs[-3:])}{' ...' if len(runs) > 3 else ''}" if runs else "train one first"
        raise UserError(f"no run {shown(run)} in {where}", f"{hint} (listing the runs shows them all)")

    def reserve_run(self, name: str) -> bool:
        """Claim a run name by creating its config file exclusively; False if it is taken."""
        return not self.model(name).exists() and reserve(self.config(name))

    def finetune_name(self, base: str) -> str:
        """`<base>_finetuned`, or the next free `<base>_finetunedN`, reserved: a finetune never overwrites
        another run, nor shares a name with a finetune started at the same moment."""
        name, number = f"{base}_finetuned", 2
        while not self.reserve_run(name):
            name, number = f"{base}_finetuned{number}", number + 1
        return name
