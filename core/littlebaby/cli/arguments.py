"""The command line's grammar: every command, its options and an example for `--help`.

cli.py runs what this parses; keeping the argparse tables here lets cli.py read
as what each command does.
"""

import argparse
import re
import sys

EXAMPLES = {
    "train": "examples:\n  littlebaby train\n  littlebaby train --config baby --set max_steps=200 --set lr=0.002\n"
    "  littlebaby train --data my_text.txt --home runs/\n  littlebaby train --resume last\n"
    "  littlebaby train --data prepared/ --set max_steps=1000",
    "prepare": "examples:\n  littlebaby prepare --data books/ --out prepared/\n"
    "  littlebaby prepare --data a.txt --data more/ --set c_tokenizer=bpe --set vocab_size=4096 --out prepared/",
    "finetune": "example:\n  littlebaby finetune last --data sophocles.txt --set max_steps=300",
    "generate": "examples:\n  littlebaby generate last --prompt 'ROMEO:' --max-tokens 300 --temperature 0.8 --seed 1\n"
    "  littlebaby generate 5f0c... --top-k 10 --num-samples 3\n"
    "  echo 'JULIET:' | littlebaby generate last --prompt -\n"
    "  littlebaby generate last --interactive",
    "runs": "examples:\n  littlebaby runs --home runs/\n  littlebaby runs --markdown > RUNS.md",
    "compare": "examples:\n  littlebaby compare 5f0c... 9a1b...\n  littlebaby compare 5f0c... 9a1b... last "
    "--out curves.png",
    "plugins": "example:\n  littlebaby plugins",
    "inspect": "example:\n  littlebaby inspect last",
    "plot": "examples:\n  littlebaby plot last\n  littlebaby plot 5f0c... --out curves.png",
    "attention": "examples:\n  littlebaby attention last --prompt 'ROMEO: my love'\n"
    "  littlebaby attention last --prompt 'ROMEO:' --layer 0 --head 2 --out map.png",
    "surprise": "examples:\n  littlebaby surprise last --text 'ROMEO: my love, my lady'\n"
    "  littlebaby surprise last --file scene.txt --out scene.html",
    "new-plugin": "examples:\n  littlebaby new-plugin attention sharedkv\n"
    "  littlebaby new-plugin tokenizer words --out plugins/tokenizer_words",
    "import-original": "example:\n  littlebaby import-original --config config.json --tokenizer tokenizer.json "
    "--model model.json",
    "import-hf": "examples:\n  hf download gpt2 --local-dir gpt2      (any download of the folder will do)\n"
    "  littlebaby import-hf gpt2/\n"
    "  littlebaby attention last --prompt 'The cat sat on the mat'",
    "serve": "examples:\n  littlebaby serve\n  curl localhost:8000/v1/completions -H 'Content-Type: application/json' "
    '-d \'{"model": "last", "prompt": "ROMEO:", "max_tokens": 50}\'',
    "export-hf": "example:\n  littlebaby export-hf last --out exported/\n"
    "  python -c \"from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained('exported')\"",
}


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line, like every other mistake."""

    def error(self, message):
        message = re.sub(
            r"'([^']{57})[^']{4,}'", r"'\1...'", message
        )  # a value argparse quotes, cut short as errors.shown does
        print(f"littlebaby: error: {message}; see {self.prog} --help", file=sys.stderr, flush=True)
        sys.exit(2)


def path(text: str) -> str:
    """A path flag's value. An empty one is refused here: the layers below would read it as
    "not given" (the default config, the default figure path) or as the current directory."""
    if not text:
        raise argparse.ArgumentTypeError("'' is an empty path")
    return text


def parser() -> argparse.ArgumentParser:
    """The `littlebaby` argument parser with one subcommand per command."""
    parser = Parser(
        prog="littlebaby",
        description="A GPT-style language model in pure NumPy: every forward and backward pass by hand, every "
        "block a plugin.",
        epilog="example:\n  littlebaby train            # train the default baby on tiny Shakespeare\n"
        "  littlebaby generate last --prompt 'ROMEO:'\nrun `littlebaby COMMAND --help` for a command's options",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, help_text):
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    def home(sub):
        sub.add_argument(
            "--home", default=".", metavar="DIR", help="folder of the run files (default: current directory)"
        )

    def training(sub):
        sub.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config key (repeatable)",
        )
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.add_argument(
            "--name", metavar="TEXT", help="a readable name for the run (default: the config and its --set)"
        )
        home(sub)

    train = command("train", "Train a model from scratch (default: config baby on tiny Shakespeare).")
    train.add_argument(
        "--config", type=path, metavar="NAME|PATH", help="shipped config name or JSON file (default: baby)"
    )
    train.add_argument(
        "--data",
        type=path,
        metavar="PATH",
        help="UTF-8 training text, or a directory made by prepare (default: tiny Shakespeare, shipped)",
    )
    train.add_argument("--resume", metavar="GUID", help="continue an interrupted run (a run name or 'last')")
    training(train)

    finetune = command("finetune", "Train an existing run further on new text; writes a new _finetuned run.")
    finetune.add_argument("run", metavar="GUID|last")
    finetune.add_argument("--data", type=path, required=True, metavar="PATH", help="UTF-8 text to finetune on")
    training(finetune)

    generate = command("generate", "Sample text from a run, streamed to stdout and saved as a completion file.")
    generate.add_argument("run", metavar="GUID|last")
    generate.add_argument(
        "--prompt",
        default=None,
        help="text to continue; - reads it from standard input (default: start from a newline)",
    )
    generate.add_argument(
        "--num-samples",
        type=int,
        default=1,
        metavar="N",
        help="N completions of the prompt; with --seed S, the i-th is seed S+i",
    )
    generate.add_argument(
        "--interactive",
        action="store_true",
        help="read a prompt per line from standard input, answer each, until its end",
    )
    generate.add_argument("--max-tokens", type=int, default=500, metavar="N", help="tokens to sample (default 500)")
    generate.add_argument("--temperature", type=float, default=1.0, metavar="T", help="0 = greedy (default 1.0)")
    generate.add_argument(
        "--top-k", type=int, default=0, metavar="K", help="sample from the K likeliest only (default 0 = all)"
    )
    generate.add_argument("--seed", type=int, default=None, metavar="S", help="same seed, same text")
    generate.add_argument(
        "--no-cache", action="store_true", help="recompute the whole window each token (same text, slower)"
    )
    generate.add_argument(
        "--no-save", action="store_true", help="print the text only, write no completion file (a home you cannot write)"
    )
    generate.add_argument(
        "--no-stop-at-eos",
        dest="no_stop",
        action="store_true",
        help="go on past the end-of-text token (an imported model's <|endoftext|>), where the vocabulary has one",
    )
    home(generate)

    prepare = command(
        "prepare", "Tokenize text files and directories into train.bin, val.bin and meta.json, for train --data DIR."
    )
    prepare.add_argument(
        "--data",
        type=path,
        action="append",
        required=True,
        metavar="PATH",
        help="a UTF-8 text file or a directory of them (repeatable)",
    )
    prepare.add_argument("--out", type=path, required=True, metavar="DIR", help="the directory to create")
    prepare.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="tokenizer keys, e.g. c_tokenizer=bpe, vocab_size=4096",
    )
    prepare.add_argument("--quiet", action="store_true", help="no progress bar")

    runs = command("runs", "List the runs in the home.")
    runs.add_argument(
        "--markdown",
        action="store_true",
        help="a Markdown table of architecture, recipe, step time, parameters and best val loss",
    )
    home(runs)

    compare = command(
        "compare",
        "Val loss of several runs overlaid, by step and by training time, as a PNG (needs littlebaby[plot]); "
        "runs alike but for their seed are grouped, and each group is tested against the first (Welch's t).",
    )
    compare.add_argument("runs", nargs="+", metavar="GUID|last")
    compare.add_argument(
        "--out", type=path, metavar="FILE.png", help="where to write (default: outputs/compare_<first run>.png)"
    )
    home(compare)

    new_plugin = command(
        "new-plugin",
        "Write a folder for a new plugin: pyproject with its entry point, a module that passes the kit, its test.",
    )
    new_plugin.add_argument("kind", choices=["sequence", "attention", "network", "position", "tokenizer"])
    new_plugin.add_argument("name", help="what a config selects it by (c_KIND: NAME), a lowercase identifier")
    new_plugin.add_argument(
        "--out", type=path, metavar="DIR", help="the folder to create (default: ./littlebaby-KIND-NAME)"
    )

    command("plugins", "List installed blocks and tokenizers by kind, with their distribution and version.")

    served = command("serve", "Serve the runs of a home: a web app at / and the OpenAI API under /v1.")
    served.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    served.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    home(served)

    hf = command("import-hf", "Import a Hugging Face model folder (GPT-2: config.json, safetensors, tokenizer.json).")
    hf.add_argument("folder", type=path, metavar="DIR", help="the folder, as save_pretrained or a download writes it")
    home(hf)
    export = command("export-hf", "Write a run as a Hugging Face GPT-2 folder that transformers loads.")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--out", type=path, required=True, metavar="DIR", help="a new folder to write into")
    home(export)

    original = command("import-original", "Import the JSON files of the original notebook as a new run.")
    original.add_argument("--config", type=path, required=True, metavar="F", help="the notebook's config JSON")
    original.add_argument("--tokenizer", type=path, required=True, metavar="F", help="the notebook's tokenizer JSON")
    original.add_argument("--model", type=path, required=True, metavar="F", help="the notebook's model JSON (GPT.save)")
    original.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. dtype=float64",
    )
    home(original)

    inspect = command("inspect", "Every parameter tensor of a run, totals, and the closed-form parameter count.")
    inspect.add_argument("run", metavar="GUID|last")
    home(inspect)

    plot = command(
        "plot",
        "Train/val loss, learning rate, gradient norm and update ratios of a run, as a PNG (needs littlebaby[plot]).",
    )
    plot.add_argument("run", metavar="GUID|last")
    plot.add_argument("--out", type=path, metavar="FILE.png", help="where to write (default: outputs/plot_<run>.png)")
    home(plot)

    attention = command(
        "attention", "Attention maps of a run on a prompt (and the moh/moe gates), as a PNG (needs littlebaby[plot])."
    )
    attention.add_argument("run", metavar="GUID|last")
    attention.add_argument("--prompt", required=True, help="the text to look at (at most n_ctx tokens)")
    attention.add_argument("--layer", type=int, default=None, metavar="L", help="only this layer (default: all)")
    attention.add_argument("--head", type=int, default=None, metavar="H", help="only this head (default: all)")
    attention.add_argument(
        "--out", type=path, metavar="FILE.png", help="where to write (default: outputs/attention_<run>.png)"
    )
    home(attention)

    surprise = command(
        "surprise",
        "Each character of a text with the run's loss on it (where the model is surprised): coloured in a "
        "terminal; as digits under the text when piped or NO_COLOR is set; an HTML page with --out.",
    )
    surprise.add_argument("run", metavar="GUID|last")
    source = surprise.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text to score")
    source.add_argument("--file", type=path, metavar="F", help="a UTF-8 text file to score")
    surprise.add_argument(
        "--out", type=path, metavar="FILE.html", help="write an HTML page instead of colouring the terminal"
    )
    home(surprise)
    return parser
