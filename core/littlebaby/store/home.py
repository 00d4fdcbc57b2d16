"""Run files: where each lives in the home directory, run names, `last`, atomic writes.

A run is named by a uuid4 (`guid`); a finetune of run R is named
`R_finetuned` (then `R_finetuned2`, ... so a base is never overwritten).
Its files, relative to the home (default: the current directory):

    configs/config_<run>.json        models/model_<run>.safetensors (at the end, or a stop)
    tokenizers/tokenizer_<run>.json  checkpoints/<run>/step_<N>/ (for resume, checkpoints.py)
    outputs/report_<run>.json        outputs/completion_<run>[_<yyyymmddhhmmss>].txt

Every file is written atomically: to a temporary file `.<name>.<pid>.<random>.tmp`
in the same folder, then renamed over the target, so a crash never leaves a
partial file; the temporaries of a writer that died are removed by the next
command in the home (`Home.clean_leftovers`). A run exists from the moment its
config file does: names are reserved by creating it exclusively (`reserve`),
so concurrent commands never pick the same name. A write that fails (a full
disk, a read-only file system, no permission, a directory where the file
should go) leaves the previous file as it was and is a one-line UserError.
"""

import contextlib
import datetime
import errno
import json
import os
import re
import shutil
import stat
import tempfile
import time
import uuid
from pathlib import Path

from littlebaby.system import reading
from littlebaby.errors import UserError

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
RUN_NAME = re.compile(rf"{GUID}(?:_finetuned\d*)*")
WRITER_PID = re.compile(r"\.(\d+)\.[a-z0-9_]+\.tmp$")  # .<name>.<pid>.<random>.tmp, a file or a folder
LEFTOVER_SECONDS = 60.0  # a temporary that names no writer (older versions) is a leftover once this old
FOLDERS = ("configs", "tokenizers", "models", "outputs")


def new_guid() -> str:
    return str(uuid.uuid4())


def timestamp() -> str:
    """yyyymmddhhmmss in UTC, for names of later completions."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


# -- atomic writes ----------------------------------------------------------------
class WriteError(UserError):
    """A write the system refused (full disk, read-only, no permission, a directory in the way)."""

    def __init__(self, path, error: OSError, kept: str = "any earlier version of the file is unchanged"):
        self.path, self.reason = path, error.strerror or str(error) or type(error).__name__
        fix = "free some disk space" if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "choose a writable path"
        super().__init__(f"cannot write {path} ({self.reason})", f"{fix}; {kept}")


def write_bytes(path, data: bytes):
    """Write data to path atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    try:
        _write_atomically(path, data)
    except OSError as error:
        raise WriteError(path, error) from None


def check_replaceable(path, kept: str = "nothing was written"):
    """A one-line WriteError now (before a run trains, say) if a file cannot be written at path later."""
    try:
        _refuse_non_file(Path(path))
    except OSError as error:
        raise WriteError(path, error, kept) from None


def _refuse_non_file(path: Path):
    if path.is_dir():  # named: rename would report only "Is a directory"
        raise IsADirectoryError(21, "it is a directory")
    try:
        mode = os.stat(path).st_mode
    except OSError:  # nothing there yet (or nothing stat can see): the write says what is wrong
        return
    if not stat.S_ISREG(mode):  # the rename would put a file in place of a device or a FIFO (as root, /dev/null's)
        raise OSError(errno.EINVAL, f"it is {reading.kind(mode)}, not a regular file")


def _write_atomically(path: Path, data: bytes):
    _refuse_non_file(path)
    make_parents(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; a run's files are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def make_parents(path: Path):
    """Create the folders path goes in, naming a file in the way (mkdir says only "File exists")."""
    blocking = next((folder for folder in path.parents if folder.exists() and not folder.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(20, f"{blocking} is a file, not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def temporary_prefix(name: str) -> str:
    """Names of temporaries carry the writer's pid, so a later command can tell a dead writer's."""
    return f".{name}.{os.getpid()}."


def reserve(path) -> bool:
    """Create path empty if nobody has (O_CREAT | O_EXCL: one winner among concurrent callers)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    return True


def process_alive(pid: int) -> bool:
    """Whether process pid runs on this machine (0 and negative numbers name groups, not a process)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 2**31:
        return False
    try:
        os.kill(pid, 0)
    except OSError as error:
        return isinstance(error, PermissionError)  # someone else's process
    return True


def is_leftover(path: Path) -> bool:
    """A temporary of a writer that is gone: its pid is dead, or it names none and is old."""
    if not (path.name.startswith(".") and path.name.endswith(".tmp")):
        return False
    match = WRITER_PID.search(path.name)
    if match is not None:
        return int(match.group(1)) != os.getpid() and not process_alive(int(match.group(1)))
    try:
        return time.time() - path.lstat().st_mtime > LEFTOVER_SECONDS
    except OSError:
        return False


def write_text(path, text: str):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, data):
    """Standard JSON only: NaN or infinity is a ValueError, as every reader (reading.read_json) refuses them."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


read_json = reading.read_json  # the one JSON reader; report.py and import_original.py still import it from here


# -- the home -------------------------------------------------------------------
class Home:
    """The directory holding run files, and the path of each file of a run."""

    def __init__(self, path="."):
        if isinstance(path, str) and not path:  # Path("") would quietly be the current directory
            raise UserError("the home is an empty path", "give a directory, or . for the current one")
        self.path = reading.given_path(path, "home", "runs")

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
    def training_lock(self, run: str):
        """Held while this process trains `run`; another process is refused. The system drops the
        lock when its holder dies, however it dies, so a killed run never stays locked."""
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
            raise UserError(f"cannot open the lock file {path} ({error.strerror or error})", "remove it; it is recreated") from None
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(f"run {run} is being trained by another process", "wait for it to end, or stop it first") from None
            yield

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
            raise UserError(f"home {path} is not a directory", "pass a directory as home=DIR")
        self.refuse_broken_link()
        existing = path
        while not existing.exists():  # the home may not exist yet: its nearest ancestor decides
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(f"home {path} cannot be created ({existing} is a file)", "pass a directory as home=DIR")
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as error:
            raise UserError(f"home {path} is not writable ({error.strerror})", "pass a writable directory as home=DIR") from None
        for folder in (*FOLDERS, "checkpoints"):  # a file or a symlink loop in a folder's place fails every later write
            if os.path.lexists(path / folder) and not (path / folder).is_dir():
                raise UserError(f"{path / folder} in the home is not a directory", "move it away, or pass another home=DIR")
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
            problem = "a loop of symbolic links" if error.errno == errno.ELOOP else "a symbolic link to a missing directory"
            raise UserError(f"home {path} is {problem}", "pass a directory as home=DIR, or fix the link") from None

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
        """A run name from a user: `last`, a name, or a unique prefix.

        `last` is the run with the newest model: a model file or a checkpoint (a run killed
        mid-way has one); a run that has neither yet, such as a finetune that just started,
        is never `last`.
        """
        if not isinstance(run, str):
            raise UserError(f"run must be a run name or 'last', got {reading.shown(run)}", "for example run='last'")
        runs = self.runs()
        where = os.path.abspath(self.path)  # not Path.resolve: a home that is a loop of links raises there
        if run == "last":
            with_model = [name for name in runs if self._changed(name)]
            if not with_model:
                raise UserError(f"no runs with a model in {where}", "train one first, or pass home=DIR")
            return max(with_model, key=lambda name: (self._changed(name), name))
        if run in runs:
            return run
        matches = [name for name in runs if name.startswith(run) and "_finetuned" not in name[len(run) :]]
        if len(matches) == 1 and len(run) >= 4:
            return matches[0]
        if len(matches) > 1 and len(run) >= 4:
            shown = ", ".join(matches[:3]) + (" ..." if len(matches) > 3 else "")
            raise UserError(f"{run!r} is the beginning of {len(matches)} runs in {where} ({shown})", "give more of the name")
        hint = f"known runs: {', '.join(runs[-3:])}{' ...' if len(runs) > 3 else ''}" if runs else "train one first"
        raise UserError(f"no run {reading.shown(run)} in {where}", f"{hint} (listing the runs shows them all)")

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
