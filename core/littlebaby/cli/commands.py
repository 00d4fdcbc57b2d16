"""The `littlebaby` command: train, finetune, generate, runs, compare, plugins, import-original,
inspect, plot, attention, prepare, surprise.

A thin shell over `littlebaby.api`: it parses arguments, prints, and turns a
`UserError` (or a broken plugin's warning) into one line on stderr; a user
mistake exits with code 2 and no traceback. The layers below name Python
parameters and config keys (`max_tokens=200`, `n_ctx=32`); `in_flags` says the
same in this command's flags (`--max-tokens 200`, `--set n_ctx=32`).
"""

import errno
import os
import re
import sys
import warnings

from littlebaby.training import distributed
from littlebaby.cli.arguments import parser as _parser
from littlebaby.errors import UserError

FLAGS = {"max_tokens": "--max-tokens", "top_k": "--top-k", "temperature": "--temperature", "seed": "--seed", "home": "--home",
         "data": "--data", "prompt": "--prompt", "layer": "--layer", "head": "--head", "resume": "--resume", "out": "--out",
         "config": "--config"}
BARE_FLAGS = ("max_tokens", "top_k")  # names no sentence uses otherwise: translated even without `=`
SWITCHES = {"write=False": "--no-save"}  # a parameter's value that is a flag of its own on the command line
# a value as repr shows it (a run name, a prompt): the user's own text, never rewritten; the
# lookarounds keep the apostrophe of "the run's" from opening a quote
QUOTED = re.compile(r"((?<!\w)'[^']*'(?!\w))")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _config_keys() -> set:
    """The names `--set` takes, and `key` of `key=value`: other `word=` is a user's own text (x=1.txt)."""
    from littlebaby import config
    from littlebaby.plugins.registry import PluginWarning, default_registry

    try:
        with warnings.catch_warnings():  # an error line only: a broken plugin is said when it matters
            warnings.simplefilter("ignore", PluginWarning)
            options = default_registry().declared_options()
    except UserError:  # two plugins claim one block: no registry, and that is the error being said
        options = {}
    return {"key", *config.CORE_KEYS, *options}


def in_flags(message: str) -> str:
    """A message of the layers below in CLI terms: `max_tokens=200` -> `--max-tokens 200`, `n_ctx=8` -> `--set n_ctx=8`."""
    keys = _config_keys()

    def flag(match):
        name = match[1]
        return f"{FLAGS[name]} " if name in FLAGS else f"--set {name}=" if name in keys else match[0]

    def translated(text):
        for phrase, switch in SWITCHES.items():
            text = text.replace(phrase, switch)
        text = re.sub(r"(?<![\w/.-])([a-z][a-z0-9_]*)=", flag, text)
        return re.sub(rf"(?<![\w-])({'|'.join(BARE_FLAGS)})\b", lambda m: FLAGS[m[1]], text)

    return "".join(piece if i % 2 else translated(piece) for i, piece in enumerate(QUOTED.split(message)))


def one_line(text: str) -> str:
    """text with its control characters escaped as repr writes them (a newline as \\n): a path or a
    value the user typed with a newline in it must not break the one line an error or warning is."""
    return CONTROL.sub(lambda match: repr(match[0])[1:-1], text)


class OutputError(UserError):
    """Standard output cannot be written: a full disk under `> file`, a terminal that is gone."""


def write(text: str):
    """Text on standard output, now; a failure is one line (BrokenPipeError: the reader left, see main)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        # what stays buffered would fail again, with a traceback-like message, in Python's final flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise OutputError(f"cannot write the output ({error.strerror})", "free some space, or send it elsewhere") from None


def say(line: str = ""):
    write(line + "\n")


class RunLog:
    """`say` for a training run, which outlives its output (a full disk, a closed terminal):
    a line that cannot be written is dropped with one warning, never the run."""

    def __init__(self):
        self.failed = False

    def __call__(self, line: str = ""):
        if self.failed:
            return
        try:
            say(line)
        except OutputError as error:
            self.failed = True
            try:
                print(f"littlebaby: warning: {error.problem}; the run goes on and is saved", file=sys.stderr, flush=True)
            except OSError:  # no terminal for stderr either
                pass


def _continue_hint(args, name: str) -> str:
    home = f" --home {args.home}" if args.home != "." else ""
    return f"littlebaby train --resume {name}{home}"


def _report_run(args, result, log):
    from littlebaby.store.report import summary

    done = summary(result.report)
    if result.status == "interrupted":
        log(f"interrupted at step {done.steps_done} of {done.total_steps} ({result.stop_signal}); saved a checkpoint, the model and the report")
        log(f"continue with: {_continue_hint(args, result.name)}")
    else:
        best = f"best val loss {done.best_val_loss:.4f} at step {done.best_val_step}" if done.best_val_loss is not None else "no val loss"
        best += f" ({done.best_val_bpb:.4f} bits per byte)" if done.best_val_bpb is not None else ""
        log(f"{best}; {done.steps_done} steps in {done.train_seconds:.1f} s ({done.tokens_per_second:,.0f} tokens/s)")
    world = result.report.get("world", {})
    if world.get("allreduce_seconds_per_step") is not None:
        per_step = result.report["train_seconds"] / max(1, done.steps_done)
        log(f"all-reduce {1000 * world['allreduce_seconds_per_step']:.2f} ms per step, {world['allreduce_seconds_per_step'] / per_step:.1%} "
            f"of a step on {world['processes']} processes (waits for the slowest included)")
    if result.sample is not None:
        log("sample:")
        log(result.sample)
    elif result.status == "finished" and result.stop_signal:
        log(f"sample skipped ({result.stop_signal}); the run is finished and saved")
    log("wrote " + ", ".join(str(p) for p in result.written))


def _table(rows, columns):
    cells = [[("-" if row.get(c) is None else f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c])) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]  # no rows: the titles' widths
    for line in [columns, *cells]:
        say("  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip())


def _surprise(args):
    from littlebaby import api
    from littlebaby.store import home as files
    from littlebaby.text import batches as text
    from littlebaby.look import surprise as token_losses

    source = args.text if args.file is None else text.read_text(args.file)
    loaded = api.load(args.run, args.home)
    pairs, unit = api.token_losses(loaded, source), token_losses.unit(loaded.tokenizer)
    if args.out:
        files.write_text(args.out, token_losses.to_html(pairs, f"littlebaby surprise {args.run}", unit))
        say(f"wrote {args.out}")
    elif sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        say(token_losses.to_ansi(pairs))
        say(token_losses.ansi_legend())
    else:  # a pipe, a file, or NO_COLOR: the losses as digits under the text
        say(token_losses.to_digits(pairs))
    say(token_losses.summary(pairs, unit))


def run(args):
    from littlebaby import api
    from littlebaby.look.listing import markdown
    from littlebaby.store.report import summary

    if args.command in ("train", "finetune"):
        log = RunLog()
        if args.command == "train":
            result = api.train(args.config, args.data, args.overrides, args.home, args.resume, quiet=args.quiet, log=log)
        else:
            result = api.finetune(args.run, args.data, args.overrides, args.home, quiet=args.quiet, log=log)
        _report_run(args, result, log)
        if result.stop_signal:  # interrupted, or Ctrl-C during the end's sample
            from littlebaby.training.stopping import exit_code

            return exit_code(result.stop_signal)
    elif args.command == "generate":
        api.generate(args.run, args.prompt, args.max_tokens, args.temperature, args.top_k, args.seed, not args.no_cache, args.home,
                     on_text=write, write=not args.no_save)
        write("\n")
    elif args.command == "runs" and args.markdown:
        rows = api.runs(args.home, comparison=True)
        if not rows:
            raise UserError(f"no runs in {args.home}", "littlebaby train makes one")
        say(markdown(rows))
    elif args.command == "runs":
        rows = api.runs(args.home)
        if not rows:
            say(f"no runs in {args.home} (littlebaby train makes one)")
            return
        for row in rows:
            row["seconds"] = None if row["seconds"] is None else round(row["seconds"])
        _table(rows, ["guid", "date", "config", "blocks", "tokenizer", "params", "steps", "best_val_loss", "best_val_bpb", "seconds", "status"])
    elif args.command == "prepare":
        from littlebaby.runs.prepare import prepare

        meta = prepare(args.data, args.out, args.overrides, quiet=args.quiet, log=say)
        splits = meta["splits"]
        say(f"wrote {args.out}: {splits['train']['tokens']:,} train and {splits['val']['tokens']:,} val tokens ({meta['dtype']}), "
            f"{meta['tokenizer']['tokenizer']} vocabulary of {meta['tokenizer']['vocab_size']}")
    elif args.command == "plugins":
        _table(api.plugins(), ["kind", "name", "distribution", "version"])
    elif args.command == "inspect":
        say(api.inspect(args.run, args.home))
    elif args.command == "compare":
        _, path = api.compare(args.runs, args.home, out=args.out or True)
        say(f"wrote {path}")
    elif args.command == "plot":
        _, path = api.plot(args.run, args.home, out=args.out or True)
        say(f"wrote {path}")
    elif args.command == "attention":
        _, path = api.attention(args.run, args.prompt, args.layer, args.head, args.home, out=args.out or True)
        say(f"wrote {path}")
    elif args.command == "surprise":
        _surprise(args)
    elif args.command == "import-original":
        result = api.import_original(args.config, args.tokenizer, args.model, args.home, args.overrides)
        say(f"imported as run {result.name}: {summary(result.report).parameters:,} parameters")
        say("wrote " + ", ".join(str(p) for p in result.written))


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"littlebaby: warning: {one_line(str(message))}", file=sys.stderr, flush=True)


def _one_process(command) -> bool:
    """Commands other than train and finetune run on one process: under an MPI launcher, rank 0
    does the work (saying so once) and the others leave at once without starting MPI."""
    size, rank = distributed.launched()
    if size > 1 and rank == 0:
        print(f"littlebaby: {command} runs on one process; the other {size - 1} have nothing to do", file=sys.stderr, flush=True)
    return rank == 0


def _user_error(world, error) -> int:
    """One line (once per job) and exit code 2; under MPI every rank leaves together."""
    if world.size > 1 and not world.agreed:
        try:
            world.agree(error)  # the setup's collective: every rank learns of the first failure
        except UserError as first:
            error = first
    elif world.size > 1 and not isinstance(error, distributed.SharedError):  # only this rank may know: end the job
        print(f"littlebaby: error on rank {world.rank}: {one_line(in_flags(str(error)))}", file=sys.stderr, flush=True)
        world.abort(2)
    if world.is_root and distributed.launched()[1] == 0:  # launched: also when MPI could not start
        print(f"littlebaby: error: {one_line(in_flags(str(error)))}", file=sys.stderr, flush=True)
    return 2


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    warnings.showwarning = _warning_line  # a broken plugin: one line, the other plugins keep working
    world = distributed.Solo()
    try:
        if args.command in ("train", "finetune"):
            # MPI when a launcher started several processes; then an uncaught exception on any
            # rank ends the job (distributed.py's excepthook), never a hang
            world = distributed.world()
            if not world.is_root:
                sys.stdout = open(os.devnull, "w")  # rank 0 alone prints
        elif not _one_process(args.command):
            return 0
        if args.command in ("train", "finetune"):  # a run stops at a step's end and saves (session.py)
            code = run(args)
        else:
            from littlebaby.training.stopping import quit_on_signals

            with quit_on_signals():
                code = run(args)
    except UserError as error:
        return _user_error(world, error)
    except KeyboardInterrupt as quit:
        from littlebaby.training.stopping import exit_code

        code = exit_code(getattr(quit, "signal", "SIGINT"))  # a second SIGTERM still exits 143
        print("littlebaby: interrupted", file=sys.stderr, flush=True)
        world.abort(code)
        return code
    except BrokenPipeError:  # `littlebaby generate ... | head`
        return 0
    except OSError as error:  # a path the system refuses to look up at all, wherever it was first touched
        if error.errno not in (errno.ENAMETOOLONG, errno.ELOOP) or error.filename is None:
            raise
        fix = "give a shorter path" if error.errno == errno.ENAMETOOLONG else "give a path without a loop of symbolic links"
        return _user_error(world, UserError(f"path {error.filename}: {error.strerror}", fix))
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
