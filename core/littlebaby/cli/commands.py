"""What each subcommand of `littlebaby` does, over `littlebaby.api`: call it, print what it gives.

main.py parses the arguments, picks the function here and turns a `UserError` into one line.
"""

import os
import sys

from littlebaby import api
from littlebaby.cli.output import RunLog, say, table, write
from littlebaby.errors import UserError
from littlebaby.look import surprise
from littlebaby.look.listing import markdown
from littlebaby.runs.load import load_named
from littlebaby.store.home import Home
from littlebaby.store.report import Report
from littlebaby.system import atomic
from littlebaby.text.source import read_text
from littlebaby.training.stopping import exit_code


def _continue_hint(args, name: str) -> str:
    home = f" --home {args.home}" if args.home != "." else ""
    return f"littlebaby train --resume {name}{home}"


def _report_run(args, result, log):
    done = result.report.summary()
    if result.status == "interrupted":
        log(
            f"interrupted at step {done.steps_done} of {done.total_steps} ({result.stop_signal}); saved a "
            "checkpoint, the model and the report"
        )
        log(f"continue with: {_continue_hint(args, result.name)}")
    else:
        best = (
            f"best val loss {done.best_val_loss:.4f} at step {done.best_val_step}"
            if done.best_val_loss is not None
            else "no val loss"
        )
        best += f" ({done.best_val_bpb:.4f} bits per byte)" if done.best_val_bpb is not None else ""
        log(f"{best}; {done.steps_done} steps in {done.train_seconds:.1f} s ({done.tokens_per_second:,.0f} tokens/s)")
    if done.allreduce_seconds_per_step is not None:
        per_step = done.train_seconds / max(1, done.steps_done)
        log(
            f"all-reduce {1000 * done.allreduce_seconds_per_step:.2f} ms per step, "
            f"{done.allreduce_seconds_per_step / per_step:.1%} "
            f"of a step on {done.processes} processes (waits for the slowest included)"
        )
    if result.sample is not None:
        log("sample:")
        log(result.sample)
    elif result.status == "finished" and result.stop_signal:
        log(f"sample skipped ({result.stop_signal}); the run is finished and saved")
    log("wrote " + ", ".join(str(p) for p in result.written))


def train(args):
    log = RunLog()
    if args.command == "train":
        result = api.train(
            args.config, args.data, args.overrides, args.home, args.resume, quiet=args.quiet, log=log, name=args.name
        )
    else:
        result = api.finetune(args.run, args.data, args.overrides, args.home, quiet=args.quiet, log=log, name=args.name)
    _report_run(args, result, log)
    if result.stop_signal:  # interrupted, or Ctrl-C during the end's sample
        return exit_code(result.stop_signal)


def _stdin(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"standard input is not UTF-8 text (byte {error.start})", "give UTF-8 text") from None


def generate(args):
    if args.interactive and args.prompt is not None:
        raise UserError("--interactive reads its prompts from standard input", "drop --prompt, or drop --interactive")
    if not isinstance(args.num_samples, int) or args.num_samples < 1:
        raise UserError(f"--num-samples must be 1 or more, got {args.num_samples}", "for example --num-samples 3")
    home = Home(args.home)
    name = home.resolve(args.run)
    loaded = load_named(home, name)  # once, however many completions follow
    settings = dict(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        cache=not args.no_cache,
        home=args.home,
        on_text=write,
        write=not args.no_save,
        name=name,
        stop_at_eos=not args.no_stop,
    )
    if args.interactive:
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                print("prompt> ", end="", file=sys.stderr, flush=True)
            line = _stdin(sys.stdin.buffer.readline())
            if not line:  # end of input
                return
            api.generate(loaded, line.rstrip("\n") or None, seed=args.seed, **settings)
            write("\n\n")
    prompt = _stdin(sys.stdin.buffer.read()) if args.prompt == "-" else args.prompt
    for i in range(args.num_samples):
        if i:
            write("\n" + "-" * 40 + "\n")
        seed = None if args.seed is None else args.seed + i
        api.generate(loaded, prompt, seed=seed, **settings)
    write("\n")


RUN_COLUMNS = ("guid", "name", "date", "blocks", "tokenizer", "params", "steps", "best_val_loss", "best_val_bpb")
RUN_COLUMNS += ("seconds", "status")


def runs(args):
    if args.markdown:
        rows = api.runs(args.home, comparison=True)
        if not rows:  # as `runs` says it, exit 0; on stderr, so that `> RUNS.md` gets no table that is not one
            print(f"littlebaby: no runs in {args.home} (littlebaby train makes one)", file=sys.stderr, flush=True)
            return
        say(markdown(rows))
        return
    rows = api.runs(args.home)
    if not rows:
        say(f"no runs in {args.home} (littlebaby train makes one)")
        return
    for row in rows:
        row["seconds"] = None if row["seconds"] is None else round(row["seconds"])
        if row["best_val_bpb"] is not None and not row["bpb_comparable"]:
            row["best_val_bpb"] = f"{row['best_val_bpb']:.4f}*"
    table(rows, RUN_COLUMNS)
    if any(isinstance(row["best_val_bpb"], str) for row in rows):
        say("* made before val was cut by bytes: its bits per byte compare only with runs of the same tokenizer")


def prepare(args):
    meta = api.prepare(args.data, args.out, args.overrides, quiet=args.quiet, log=say)
    splits = meta["splits"]
    say(
        f"wrote {args.out}: {splits['train']['tokens']:,} train and {splits['val']['tokens']:,} val tokens "
        f"({meta['dtype']}), "
        f"{meta['tokenizer']['tokenizer']} vocabulary of {meta['tokenizer']['vocab_size']}"
    )


def plugins(args):
    table(api.plugins(), ["kind", "name", "distribution", "version"])


def new_plugin(args):
    written = api.new_plugin(args.kind, args.name, args.out)
    say("wrote " + ", ".join(map(str, written)))
    say(f"next: cd {written[0].parent} and follow its README (install it, run its test through the kit)")


def inspect(args):
    say(api.inspect(args.run, args.home))


def picture(args):
    if args.command == "compare":
        say("\n".join(api.significance(args.runs, args.home)))  # first: it needs no plotting library
        _, path = api.compare(args.runs, args.home, out=args.out or True)
    elif args.command == "plot":
        _, path = api.plot(args.run, args.home, out=args.out or True)
    else:
        _, path = api.attention(args.run, args.prompt, args.layer, args.head, args.home, out=args.out or True)
    say(f"wrote {path}")


def surprise_of(args):
    source = args.text if args.file is None else read_text(args.file)
    home = Home(args.home)
    name = home.resolve(args.run)
    loaded = load_named(home, name)
    pairs, unit = api.token_losses(loaded, source), surprise.unit(loaded.tokenizer)
    if args.out:
        title = f"littlebaby surprise: {Report.tolerant(home.report(name)).listed()['name']} ({name[:8]})"
        atomic.write_text(args.out, surprise.to_html(pairs, title, unit))
        say(f"wrote {args.out}")
    elif sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        say(surprise.to_ansi(pairs))
        say(surprise.ansi_legend())
    else:  # a pipe, a file, or NO_COLOR: the losses as digits under the text
        say(surprise.to_digits(pairs))
    say(surprise.summary(pairs, unit))


def importing(args):
    if args.command == "import-hf":
        result = api.import_hf(args.folder, args.home, log=say)
    else:
        result = api.import_original(args.config, args.tokenizer, args.model, args.home, args.overrides)
    say(f"imported as run {result.name}: {result.report.summary().parameters:,} parameters")
    say("wrote " + ", ".join(str(p) for p in result.written))


def serve(args):
    try:
        from littlebaby.serve.app import serve as run_server
    except ImportError as missing:
        raise UserError(f"serve needs {missing.name}, which is not installed", "pip install 'littlebaby[serve]'")
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be from 1 to 65535, got {args.port}", "give a free port, e.g. --port 8000")
    run_server(args.home, args.host, args.port, log=say)


def export_hf(args):
    say("wrote " + ", ".join(str(p) for p in api.export_hf(args.run, args.out, args.home)))


COMMANDS = {
    "train": train,
    "finetune": train,
    "generate": generate,
    "runs": runs,
    "prepare": prepare,
    "plugins": plugins,
    "inspect": inspect,
    "compare": picture,
    "plot": picture,
    "attention": picture,
    "surprise": surprise_of,
    "import-original": importing,
    "import-hf": importing,
    "export-hf": export_hf,
    "serve": serve,
    "new-plugin": new_plugin,
}
