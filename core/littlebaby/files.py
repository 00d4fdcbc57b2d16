"""Run files: where each lives in the home directory, run names, `last`, atomic writes.

A run is named by a uuid4 (`guid`); a finetune of run R is named
`R_finetuned` (then `R_finetuned2`, ... so a base is never overwritten).
Its files, relative to the home (default: the current directory):

    configs/config_<run>.json        models/model_<run>.safetensors
    tokenizers/tokenizer_<run>.json  models/optimizer_<run>.safetensors (for --resume)
    outputs/report_<run>.json        outputs/completion_<run>[_<yyyymmddhhmmss>].txt

Every file is written atomically: to a temporary file in the same folder,
then renamed over the target, so a crash never leaves a partial file.
"""

import contextlib
import datetime
import json
import os
import re
import tempfile
import uuid
from pathlib import Path

from littlebaby.errors import UserError

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
RUN_NAME = re.compile(rf"{GUID}(?:_finetuned\d*)*")


def new_guid() -> str:
    return str(uuid.uuid4())


def timestamp() -> str:
    """yyyymmddhhmmss in UTC, for names of later completions."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


# -- atomic writes ----------------------------------------------------------------
def write_bytes(path, data: bytes):
    """Write data to path atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a run's files are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text(path, text: str):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, data):
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path, what: str):
    """A JSON file written by a run, or a one-line UserError."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{what} file {path} not found", "was the run's home moved? pass home=DIR") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{what} file {path} is unreadable or not JSON ({error})", "restore or regenerate it") from None


# -- the home -------------------------------------------------------------------
class Home:
    """The directory holding run files, and the path of each file of a run."""

    def __init__(self, path="."):
        self.path = Path(path)

    def config(self, run: str) -> Path:
        return self.path / "configs" / f"config_{run}.json"

    def tokenizer(self, run: str) -> Path:
        return self.path / "tokenizers" / f"tokenizer_{run}.json"

    def model(self, run: str) -> Path:
        return self.path / "models" / f"model_{run}.safetensors"

    def optimizer(self, run: str) -> Path:
        return self.path / "models" / f"optimizer_{run}.safetensors"

    def report(self, run: str) -> Path:
        return self.path / "outputs" / f"report_{run}.json"

    def completion(self, run: str, stamp: str | None = None) -> Path:
        """completion_<run>.txt, or for a later generate completion_<run>_<stamp>.txt (never reused)."""
        path = self.path / "outputs" / (f"completion_{run}.txt" if stamp is None else f"completion_{run}_{stamp}.txt")
        number = 2
        while stamp is not None and path.exists():  # two generates in the same second
            path = self.path / "outputs" / f"completion_{run}_{stamp}-{number}.txt"
            number += 1
        return path

    def check_writable(self):
        """A UserError unless run files can be created here; creates nothing that stays."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise UserError(f"home {path} is not a directory", "pass a directory as home=DIR")
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

    def runs(self) -> list[str]:
        """Names of the runs that have a model file, oldest first."""
        folder = self.path / "models"
        if not folder.is_dir():
            return []
        found = []
        for path in folder.glob("model_*.safetensors"):
            name = path.name[len("model_") : -len(".safetensors")]
            if RUN_NAME.fullmatch(name):
                found.append((path.stat().st_mtime_ns, name))
        return [name for _, name in sorted(found)]

    def resolve(self, run: str) -> str:
        """A run name from a user: `last` (the newest model in the home), a name, or a unique prefix."""
        runs = self.runs()
        if run == "last":
            if not runs:
                raise UserError(f"no runs in {self.path.resolve()}", "train one first, or pass home=DIR")
            return runs[-1]
        if run in runs:
            return run
        matches = [name for name in runs if name.startswith(run) and "_finetuned" not in name[len(run) :]]
        if len(matches) == 1 and len(run) >= 4:
            return matches[0]
        hint = f"known runs: {', '.join(runs[-3:])}{' ...' if len(runs) > 3 else ''}" if runs else "train one first"
        raise UserError(f"no run {run!r} in {self.path.resolve()}", f"{hint} (listing the runs shows them all)")

    def finetune_name(self, base: str) -> str:
        """`<base>_finetuned`, or the next free `<base>_finetunedN`: a finetune never overwrites."""
        name, number = f"{base}_finetuned", 2
        while self.model(name).exists() or self.config(name).exists():
            name, number = f"{base}_finetuned{number}", number + 1
        return name
