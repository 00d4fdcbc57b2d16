"""The `littlebaby` command as a user runs it: subprocesses, files on disk, one-line errors."""

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from littlebaby.errors import UserError
from littlebaby.look import listing
from littlebaby.look.views import compare

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "original"
COMMANDS = [
    "train",
    "finetune",
    "generate",
    "runs",
    "compare",
    "plugins",
    "import-original",
    "inspect",
    "plot",
    "attention",
    "prepare",
    "surprise",
]


@pytest.fixture(scope="session")
def littlebaby(littlebaby):
    """Here a command must succeed unless the call says check=False."""
    return functools.partial(littlebaby, check=True)


def tree(path: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in path.rglob("*")} if path.exists() else {}


def test_train_generate_finetune_generate(tmp_path, greek_file, littlebaby):
    train = littlebaby("train", "--config", "tiny", "--set", "max_steps=3", "--quiet", cwd=tmp_path)
    guid = re.search(r"run ([0-9a-f-]{36}):", train.stdout).group(1)
    assert "best val loss" in train.stdout and "sample:\nROMEO:" in train.stdout and "wrote" in train.stdout
    assert train.stderr == ""  # --quiet: no progress bar
    for path in [
        f"configs/config_{guid}.json",
        f"tokenizers/tokenizer_{guid}.json",
        f"models/model_{guid}.safetensors",
        f"outputs/report_{guid}.json",
        f"outputs/completion_{guid}.txt",
    ]:
        assert (tmp_path / path).is_file(), path
    first = littlebaby("generate", "last", "--prompt", "ROMEO:", "--max-tokens", "30", "--seed", "7", cwd=tmp_path)
    assert first.stdout.startswith("ROMEO:") and len(first.stdout) == 6 + 30 + 1
    again = littlebaby(
        "generate", guid, "--prompt", "ROMEO:", "--max-tokens", "30", "--seed", "7", "--no-cache", cwd=tmp_path
    )
    assert again.stdout == first.stdout
    assert len(list((tmp_path / "outputs").glob(f"completion_{guid}_2*.txt"))) == 2

    littlebaby("finetune", "last", "--data", greek_file, "--set", "max_steps=2", "--quiet", cwd=tmp_path)
    tuned = f"{guid}_finetuned"
    for path in [
        f"configs/config_{tuned}.json",
        f"tokenizers/tokenizer_{tuned}.json",
        f"models/model_{tuned}.safetensors",
        f"outputs/report_{tuned}.json",
        f"outputs/completion_{tuned}.txt",
    ]:
        assert (tmp_path / path).is_file(), path
    greek = littlebaby(
        "generate", "last", "--prompt", "Ισμήνη", "--max-tokens", "20", "--temperature", "0", cwd=tmp_path
    )
    assert greek.stdout.startswith("Ισμήνη")
    assert list((tmp_path / "outputs").glob(f"completion_{tuned}_2*.txt"))

    runs = littlebaby("runs", cwd=tmp_path).stdout.splitlines()
    assert runs[0].split()[:4] == ["guid", "name", "date", "blocks"] and len(runs) == 3
    assert runs[1].startswith(guid) and runs[2].startswith(tuned)


def test_config_by_path_and_data_by_path(tmp_path, littlebaby):
    (tmp_path / "mine.json").write_text(
        json.dumps(
            {
                "n_ctx": 8,
                "n_emb": 8,
                "head_size": 8,
                "n_heads": 2,
                "n_layers": 1,
                "batch_size": 2,
                "max_steps": 2,
                "c_network": "moe",
                "n_experts": 2,
            }
        )
    )
    (tmp_path / "data.txt").write_text("hello there, general kenobi\n" * 10)
    out = littlebaby("train", "--config", "mine.json", "--data", "data.txt", "--quiet", cwd=tmp_path).stdout
    assert "pre/mha/moe" in out
    [report] = (tmp_path / "outputs").glob("report_*.json")
    report = json.loads(report.read_text())
    assert report["config"]["n_experts"] == 2 and report["config_name"] == "mine" and report["wall_seconds"] > 0


def test_plugins_lists_the_built_in_blocks(tmp_path, littlebaby):
    out = littlebaby("plugins", cwd=tmp_path).stdout
    for name in ["pre", "post", "rms", "mha", "moh", "rope", "mlp", "moe", "swiglu"]:
        assert re.search(rf"\b{name}\s+littlebaby-\w+-{name}\s+\d", out)


def test_import_original(tmp_path, littlebaby):
    out = littlebaby(
        "import-original",
        "--config",
        FIXTURE / "config_pre_moh_moe.json",
        "--tokenizer",
        FIXTURE / "tokenizer.json",
        "--model",
        FIXTURE / "model_pre_moh_moe.json",
        "--home",
        tmp_path / "h",
        cwd=tmp_path,
    ).stdout
    guid = re.search(r"imported as run ([0-9a-f-]{36})", out).group(1)
    assert (tmp_path / "h" / "models" / f"model_{guid}.safetensors").is_file()
    littlebaby("generate", "last", "--home", tmp_path / "h", "--max-tokens", "5", cwd=tmp_path)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_help_has_an_example(tmp_path, command, littlebaby):
    out = littlebaby(*([command] if command else []), "--help", cwd=tmp_path).stdout
    assert "example" in out and "littlebaby" in out


@pytest.fixture
def damaged_home(tiny_run, tmp_path):
    """A copy of the tiny run's home that a test may break."""
    home, name = tiny_run
    shutil.copytree(home, tmp_path / "home")
    return tmp_path / "home", name


def test_generate_from_a_home_it_cannot_write_says_no_save_which_prints_and_writes_nothing(damaged_home, littlebaby):
    home, name = damaged_home
    shutil.rmtree(home / "outputs", ignore_errors=True)
    (home / "outputs").write_text("not a folder")  # no completion can be saved here (as a read-only home for root)
    before = tree(home)
    refused = littlebaby("generate", name, "--max-tokens", "20", "--seed", "1", "--home", home, cwd=home, check=False)
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert (
        "is not a directory" in refused.stderr and "or --no-save to print the text without saving it" in refused.stderr
    )
    printed = littlebaby("generate", name, "--max-tokens", "20", "--seed", "1", "--home", home, "--no-save", cwd=home)
    assert printed.stdout.strip() and printed.stderr == ""
    assert tree(home) == before


def _data(tmp_path, content: bytes) -> Path:
    path = tmp_path / "data.txt"
    path.write_bytes(content)
    return path


BAD_INPUTS = {
    "missing data": (lambda tmp, home, run: ["train", "--config", "tiny", "--data", tmp / "nope.txt"], "not found"),
    "empty data": (lambda tmp, home, run: ["train", "--config", "tiny", "--data", _data(tmp, b"")], "is empty"),
    "binary data": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--data", _data(tmp, b"\x00\x01" * 500)],
        "binary",
    ),
    "non-UTF-8 data": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--data", _data(tmp, b"caf\xe9 " * 500)],
        "not UTF-8",
    ),
    "short data": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--data", _data(tmp, b"to be or not to be" * 5)],
        "so about 170 in all",
    ),
    "unknown guid": (lambda tmp, home, run: ["generate", "0" * 8, "--home", home], "no run '00000000'"),
    "bad config key": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--set", "n_embd=8"],
        "did you mean 'n_emb'",
    ),
    "bad config value": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--set", "n_heads=3"],
        "n_heads must divide",
    ),
    "wrong type": (lambda tmp, home, run: ["train", "--config", "tiny", "--set", "n_layers=two"], "n_layers"),
    "option of an unselected block": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--set", "n_experts=2"],
        "network block 'moe'",
    ),
    "unknown block": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--set", "c_attention=rwkv"],
        "pip install littlebaby-attention-rwkv",
    ),
    "unknown config": (lambda tmp, home, run: ["train", "--config", "babyy"], "no shipped config"),
    "truncated model": (lambda tmp, home, run: ["generate", run, "--home", home], "corrupt or truncated"),
    "vocab mismatch": (lambda tmp, home, run: ["generate", run, "--home", home], "tokenizer has 66 characters"),
    "unknown prompt character": (lambda tmp, home, run: ["generate", run, "--home", home, "--prompt", "ROMEO€"], "'€'"),
    "max tokens not a number": (
        lambda tmp, home, run: ["generate", run, "--home", home, "--max-tokens", "many"],
        "invalid int",
    ),
    "unknown option": (lambda tmp, home, run: ["train", "--epochs", "3"], "unrecognized arguments"),
    "negative max tokens": (
        lambda tmp, home, run: ["generate", run, "--home", home, "--max-tokens", "-1"],
        "max-tokens",
    ),
    "home is a file": (
        lambda tmp, home, run: ["train", "--config", "tiny", "--home", _data(tmp, b"x")],
        "not a directory",
    ),
    "no runs": (
        lambda tmp, home, run: ["finetune", "last", "--data", _data(tmp, b"x" * 500), "--home", tmp / "empty"],
        "no runs",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, damaged_home, case, littlebaby):
    home, run = damaged_home
    if case == "truncated model":
        model = home / "models" / f"model_{run}.safetensors"
        model.write_bytes(model.read_bytes()[:-64])
    if case == "vocab mismatch":
        tokenizer = home / "tokenizers" / f"tokenizer_{run}.json"
        vocab = json.loads(tokenizer.read_text())["vocab"] + ["\u00e9"]
        tokenizer.write_text(json.dumps({"vocab": vocab, "vocab_size": len(vocab)}))
    work = tmp_path / "work"
    work.mkdir()
    arguments, message = BAD_INPUTS[case]
    args = arguments(tmp_path, home, run)
    before = tree(tmp_path)
    done = littlebaby(*args, cwd=work, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("littlebaby: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert done.stdout == ""
    assert tree(tmp_path) == before  # nothing created, nothing rewritten


def test_ctrl_c_saves_and_says_how_to_resume(tmp_path, littlebaby):
    process = subprocess.Popen(
        [sys.executable, "-m", "littlebaby.cli", "train", "--config", "tiny", "--set", "max_steps=100000"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = process.stdout.readline()
    assert first.startswith("run ")
    time.sleep(1.0)  # let it take some steps
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    guid = first.split()[1].rstrip(":")
    steps = int(re.search(r"interrupted at step (\d+) of \d+", out).group(1))
    assert f"littlebaby train --resume {guid}" in out
    report = json.loads((tmp_path / "outputs" / f"report_{guid}.json").read_text())
    assert report["status"] == "interrupted" and report["steps_done"] == steps == len(report["steps"])
    resumed = littlebaby("train", "--resume", guid, "--set", f"max_steps={steps + 2}", "--quiet", cwd=tmp_path)
    assert f"resuming at step {steps}" in resumed.stdout and "sample:" in resumed.stdout
    report = json.loads((tmp_path / "outputs" / f"report_{guid}.json").read_text())
    assert report["status"] == "finished" and report["steps_done"] == steps + 2


def test_a_broken_plugin_is_one_warning_line_and_the_rest_works(tmp_path):
    # a distribution on PYTHONPATH whose entry point fails to import
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('no module named lapack_of_doom')\n")
    info = tmp_path / "littlebaby_attention_broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: littlebaby-attention-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[littlebaby]\nbroken = broken_plugin\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "plugins"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stderr.startswith("littlebaby: warning: plugin littlebaby-attention-broken failed to import")
    assert done.stderr.count("\n") == 1 and "lapack_of_doom" in done.stderr
    assert "littlebaby-attention-mha" in done.stdout


def test_messages_of_the_layers_below_are_said_in_flags():
    from littlebaby.cli.flags import said

    error = UserError("{max_tokens} must be >= 0", "for example {max_tokens=}200", "max_tokens")
    assert str(error) == "max_tokens must be >= 0; for example max_tokens=200"
    assert said(error) == "--max-tokens must be >= 0; for example --max-tokens 200"
    assert said(UserError("lower {n_ctx}", "or {n_ctx=}8", "n_ctx")) == "lower --set n_ctx; or --set n_ctx=8"
    assert (
        said(UserError("pass {home=}DIR; file /tmp/a=b/c.txt", None, "home")) == "pass --home DIR; file /tmp/a=b/c.txt"
    )
    assert said(UserError("or {write=False}", None, "write=False")) == "or --no-save"


def test_runs_lists_a_run_whose_report_is_damaged(damaged_home, littlebaby):
    home, run = damaged_home
    (home / "outputs" / f"report_{run}.json").write_text(
        json.dumps({"config": "pre", "data": "x", "steps_done": "many"})
    )
    done = littlebaby("runs", "--home", home, cwd=home)
    assert done.stderr == "" and run in done.stdout and "?/?/?" in done.stdout


# -- comparing runs: the modern blocks through the CLI, runs --markdown, compare --
MODERN = [
    "--set",
    "c_sequence=rms",
    "--set",
    "c_position=rope",
    "--set",
    "c_network=swiglu",
    "--set",
    "n_layers=2",
]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, littlebaby):
    home = tmp_path_factory.mktemp("compare")
    names = []
    for extra in ([], MODERN):
        out = littlebaby("train", "--config", "tiny", "--set", "max_steps=6", "--quiet", *extra, cwd=home).stdout
        names.append(re.search(r"run ([0-9a-f-]{36}):", out).group(1))
    return home, names


def test_modern_blocks_generate_past_n_ctx_the_same_text_with_and_without_the_cache(two_runs, littlebaby):
    home, (_, modern) = two_runs
    texts = [
        littlebaby(
            "generate", modern, "--prompt", "ROMEO:", "--max-tokens", "40", "--seed", "3", *flag, cwd=home
        ).stdout
        for flag in ([], ["--no-cache"])
    ]  # n_ctx 16: the cache slides 30 times
    assert texts[0] == texts[1] and len(texts[0]) == len("ROMEO:") + 40 + 1


def test_runs_markdown_has_the_original_columns(two_runs, littlebaby):
    home, names = two_runs
    lines = littlebaby("runs", "--markdown", cwd=home).stdout.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:13] == list(listing.COMPARISON) and set(lines[1]) == {"|", "-"}
    assert len(lines) == 4
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert rows[0][:2] == [names[0][:8], "pre/mha/mlp"] and rows[1][1] == "rms/mha+rope/swiglu (no wpe)"
    assert rows[1][header.index("n_layers")] == "2" and rows[0][header.index("n_layers")] == "1"
    for row in rows:
        assert float(row[header.index("best val loss")]) > 0 and float(row[header.index("step ms")]) > 0


def test_runs_markdown_in_an_empty_home_says_so_and_exits_0(tmp_path, littlebaby):
    done = littlebaby("runs", "--markdown", cwd=tmp_path, check=False)
    assert done.returncode == 0 and done.stderr.count("\n") == 1 and done.stdout == ""


def test_compare_writes_a_png_and_refuses_an_unknown_run(two_runs, tmp_path, littlebaby):
    home, names = two_runs
    out = tmp_path / "curves.png"
    said = littlebaby("compare", *names, "--out", out, cwd=home).stdout
    assert str(out) in said and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    done = littlebaby("compare", names[0], "nosuchrun", "--out", tmp_path / "no.png", cwd=home, check=False)
    assert done.returncode == 2 and not (tmp_path / "no.png").exists()


def test_compare_from_python_returns_both_views(two_runs):
    home, names = two_runs
    figure, path = compare(names, home)
    assert path is None
    by_step, by_time = figure.axes[:2]
    assert len(by_step.lines) == len(by_time.lines) == 2
    steps, elapsed = by_step.lines[1].get_xdata(), by_time.lines[1].get_xdata()
    assert list(steps) == [3, 6] and 0 < elapsed[0] < elapsed[1]


def generated(*args, home, stdin=None):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "littlebaby.cli",
            "generate",
            "last",
            "--max-tokens",
            "12",
            "--no-save",
            *args,
            "--home",
            str(home),
        ],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_several_samples_are_each_the_one_of_its_seed(tiny_run):
    home, _ = tiny_run
    both = generated("--prompt", "RO", "--num-samples", "2", "--seed", "5", home=home)
    first, second = (
        generated("--prompt", "RO", "--seed", "5", home=home),
        generated("--prompt", "RO", "--seed", "6", home=home),
    )
    assert both == first.rstrip("\n") + "\n" + "-" * 40 + "\n" + second


def test_a_prompt_from_standard_input_is_the_same_as_given(tiny_run):
    home, _ = tiny_run
    assert generated("--prompt", "-", "--seed", "2", home=home, stdin="MENENIUS:") == generated(
        "--prompt", "MENENIUS:", "--seed", "2", home=home
    )


def test_interactive_answers_each_line_until_the_end_of_input(tiny_run):
    home, _ = tiny_run
    answers = generated("--interactive", "--seed", "1", home=home, stdin="ROMEO:\nJULIET:\n")
    one, two = (generated("--prompt", p, "--seed", "1", home=home).rstrip("\n") for p in ("ROMEO:", "JULIET:"))
    assert answers == f"{one}\n\n{two}\n\n"


@pytest.mark.parametrize("args", [["--interactive", "--prompt", "a"], ["--num-samples", "0"]])
def test_generation_options_that_do_not_go_together_are_one_line(tiny_run, args, littlebaby):
    home, _ = tiny_run
    done = littlebaby("generate", "last", *args, "--home", home, cwd=home, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stdout == "", done.stderr


def test_compare_names_its_figure_after_the_runs_and_says_what_differs(two_runs, tmp_path, littlebaby):
    home, names = two_runs
    first = littlebaby("compare", *names, cwd=home).stdout
    assert f"compare_{'_'.join(sorted(n[:8] for n in names))}.png" in first
    alone = littlebaby("compare", names[0], cwd=home).stdout  # another comparison: another file, the first kept
    assert alone != first and len(list((home / "outputs").glob("compare_*.png"))) >= 2
    figure, _ = compare(names, home)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert all("c_position=" in label and "c_network=" in label for label in legend), legend
    assert legend[0].startswith("tiny max_steps=6 (") and names[0][:8] in legend[0]


def test_a_run_has_a_readable_name_runs_show_and_commands_take(tmp_path, littlebaby):
    littlebaby("train", "--config", "tiny", "--set", "max_steps=2", "--quiet", "--name", "my baby", cwd=tmp_path)
    littlebaby("train", "--config", "tiny", "--set", "max_steps=2", "--set", "lr=0.01", "--quiet", cwd=tmp_path)
    listed = littlebaby("runs", cwd=tmp_path).stdout
    assert "my baby" in listed and "tiny max_steps=2 lr=0.01" in listed
    by_name = littlebaby("generate", "my baby", "--max-tokens", "5", "--seed", "1", "--no-save", cwd=tmp_path).stdout
    [guid] = [line.split()[0] for line in listed.splitlines() if "my baby" in line]
    assert by_name == littlebaby("generate", guid, "--max-tokens", "5", "--seed", "1", "--no-save", cwd=tmp_path).stdout
    littlebaby("train", "--config", "tiny", "--set", "max_steps=2", "--quiet", "--name", "my baby", cwd=tmp_path)
    twice = littlebaby("generate", "my baby", cwd=tmp_path, check=False)
    assert twice.returncode == 2 and "2 runs in" in twice.stderr and "are named 'my baby'" in twice.stderr


@pytest.mark.parametrize("name", ["", "a\nb", "x" * 81])
def test_a_name_that_is_no_name_is_one_line_and_writes_nothing(tmp_path, name, littlebaby):
    done = littlebaby("train", "--config", "tiny", "--name", name, "--quiet", cwd=tmp_path, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--name must be a text" in done.stderr
    assert not (tmp_path / "configs").exists()
