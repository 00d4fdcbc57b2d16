"""Hostile input at the command line: every case is exit code 2, one line on
stderr, no traceback, and no file written or changed."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import example, given, settings
from hypothesis import strategies as st

from littlebaby import Block, api, hookimpl
from littlebaby.cli import main
from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.plugins.registry import Registry
from littlebaby.training import distributed

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "original"


@pytest.fixture
def home(tmp_path, tiny_run):
    """A copy of a tiny trained run, as tmp_path/home; returns (tmp_path, run name)."""
    shutil.copytree(tiny_run[0], tmp_path / "home", symlinks=True)
    return tmp_path, tiny_run[1]


# -- values ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "setting,expected",
    [
        ("lr=NaN", "lr: expected a finite number, got nan"),
        ("weight_decay=Infinity", "weight_decay: expected a finite number, got inf"),
        ("init_std=1e999", "init_std: expected a finite number, got inf"),
        ("seed=-1", "seed must be >= 0"),
        (
            "warmup_steps=" + "9" * 400,
            "warmup_steps: expected an integer below 2**63",
        ),  # overflowed the schedule's floats
        ("n_emb=1000000000", "of memory"),
        ("n_layers=1000000", "of memory"),  # used to hang, then MemoryError
    ],
)
def test_values_that_cannot_train(tmp_path, setting, expected, refused):
    assert expected in refused("train", "--config", "tiny", "--set", setting, "--quiet", "--home", "h", cwd=tmp_path)


def test_a_batch_that_cannot_fit_leaves_nothing_behind(tmp_path, refused):
    # the batch is capped at the windows in the data: with n_ctx=16384 that is every character
    # of tiny Shakespeare at once, about half a terabyte of attention weights
    line = refused(
        "train",
        "--config",
        "tiny",
        "--set",
        "batch_size=1000000000",
        "--set",
        "n_ctx=16384",
        "--home",
        "h",
        cwd=tmp_path,
    )
    assert "activations of a batch" in line and "lower --set batch_size or --set n_ctx" in line


def test_a_whole_val_split_too_long_to_evaluate_leaves_nothing_behind(tmp_path, refused):
    # one-token windows of tiny Shakespeare's val split: 111,539 of them at every eval
    keys = ["--set", "n_ctx=1", "--set", "eval_windows=0"]
    line = refused("train", "--config", "tiny", *keys, "--quiet", "--home", "h", cwd=tmp_path)
    assert "111539 windows of 1 tokens" in line and "--set eval_windows=256" in line


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--temperature", "nan"], "temperature must be a finite number >= 0"),
        (["--temperature", "inf"], "temperature must be a finite number >= 0"),
        (["--seed", "-1"], "seed must be a whole number in [0, 2**63)"),
        (["--seed", str(2**63)], "seed must be a whole number in [0, 2**63)"),
    ],
)
def test_generate_values(home, flags, expected, refused):
    cwd, name = home
    assert expected in refused("generate", name, "--home", "home", "--max-tokens", "3", *flags, cwd=cwd)


def test_the_largest_seed_is_a_seed(home, littlebaby):
    cwd, name = home
    done = littlebaby("generate", name, "--home", "home", "--max-tokens", "3", "--seed", str(2**63 - 1), cwd=cwd)
    assert done.returncode == 0 and done.stderr == "", done.stderr


# -- unreadable inputs ---------------------------------------------------------------------
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_data_from_a_device(tmp_path, device, refused):
    assert "character device, not a regular file" in refused("train", "--data", device, "--home", "h", cwd=tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_data_from_a_fifo_with_no_writer_does_not_hang(tmp_path, refused):
    os.mkfifo(tmp_path / "pipe")
    assert "FIFO" in refused("train", "--data", "pipe", "--home", "h", cwd=tmp_path)


def test_data_from_a_pipe_with_a_writer_trains(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "littlebaby.cli",
            "train",
            "--config",
            "tiny",
            "--data",
            "/dev/stdin",
            "--set",
            "max_steps=1",
            "--quiet",
            "--home",
            "h",
        ],
        cwd=tmp_path,
        input="some streamed text " * 100,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_configs_that_are_not_config_files(tmp_path, refused):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "nan.json").write_text('{"lr": NaN}')
    assert "is a directory" in refused("train", "--config", "/etc", "--home", "h", cwd=tmp_path)
    assert "nested too deeply" in refused("train", "--config", "deep.json", "--home", "h", cwd=tmp_path)
    assert "not valid JSON" in refused("train", "--config", "nan.json", "--home", "h", cwd=tmp_path)


def test_import_original_refuses_devices_and_scalars(tmp_path, refused):
    config, tokenizer, model = (
        FIXTURE / "config_pre_mha_mlp.json",
        FIXTURE / "tokenizer.json",
        FIXTURE / "model_pre_mha_mlp.json",
    )
    assert "character device" in refused(
        "import-original",
        "--config",
        config,
        "--tokenizer",
        tokenizer,
        "--model",
        "/dev/zero",
        "--home",
        "h",
        cwd=tmp_path,
    )
    weights = json.loads(model.read_text())
    weights["block_0_mha_q_weight"] = 0.5  # a scalar where the original has a matrix
    (tmp_path / "scalar.json").write_text(json.dumps(weights))
    line = refused(
        "import-original",
        "--config",
        config,
        "--tokenizer",
        tokenizer,
        "--model",
        "scalar.json",
        "--home",
        "h",
        cwd=tmp_path,
    )
    assert "'block_0_mha_q_weight' is a single number, not an array" in line
    assert "seed must be >= 0" in refused(
        "import-original",
        "--config",
        config,
        "--tokenizer",
        tokenizer,
        "--model",
        model,
        "--set",
        "seed=-1",
        "--home",
        "h",
        cwd=tmp_path,
    )


# -- run files -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["generate", "last"],
        ["inspect", "last"],
        ["finetune", "last", "--data", "text.txt"],
        ["attention", "last", "--prompt", "RO"],
    ],
)  # resume reads checkpoints/, not this file
def test_a_dangling_model_link(home, command, littlebaby, refused):
    cwd, name = home
    (cwd / "text.txt").write_text("some text to finetune on " * 20)
    model = cwd / "home" / "models" / f"model_{name}.safetensors"
    model.unlink()
    model.symlink_to(cwd / "elsewhere.safetensors")
    command = [name if part == "last" else part for part in command]
    assert "is a symbolic link to a missing file" in refused(*command, "--home", "home", cwd=cwd)
    listing = littlebaby("runs", "--home", "home", cwd=cwd)
    assert listing.returncode == 0 and name in listing.stdout


def test_a_model_file_whose_config_cannot_fit(home, refused):
    cwd, name = home
    path = cwd / "home" / "models" / f"model_{name}.safetensors"
    with safetensors.safe_open(str(path), framework="np") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    metadata["config"] = json.dumps(json.loads(metadata["config"]) | {"n_layers": 10**7})
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))
    assert "of memory" in refused("generate", name, "--home", "home", cwd=cwd)


def older_layout(cwd, name):
    """The run's newest checkpoint as an older littlebaby kept it: models/optimizer_<run>.safetensors."""
    folder = cwd / "home" / "checkpoints" / name
    [step] = [p for p in folder.iterdir() if p.name.startswith("step_")]
    path = cwd / "home" / "models" / f"optimizer_{name}.safetensors"
    shutil.copy(step / "optimizer.safetensors", path)
    shutil.rmtree(folder)
    with safetensors.safe_open(str(path), framework="np") as f:
        return path, f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.parametrize(
    "state,expected",
    [
        ({"step": "abc"}, "no valid training state"),
        ({"step": -3}, "no valid training state"),
        ([1, 2], "no valid training state"),
        ({"step": 1, "dropout_rng": {"bit_generator": "PCG64", "state": "nonsense"}}, "dropout generator state"),
    ],
)
def test_a_damaged_optimizer_file_cannot_be_resumed(home, state, expected, refused):
    cwd, name = home
    path, metadata, tensors = older_layout(cwd, name)
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata | {"state": json.dumps(state)}))
    assert expected in refused("train", "--resume", name, "--set", "max_steps=8", "--home", "home", cwd=cwd)


def test_an_optimizer_tensor_of_another_dtype_is_refused(home, refused):
    cwd, name = home
    path, metadata, tensors = older_layout(cwd, name)
    tensors["m"] = tensors["m"].astype(np.float16)
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))
    assert "tensor m is F16" in refused("train", "--resume", name, "--set", "max_steps=8", "--home", "home", cwd=cwd)


def test_a_bad_generator_state_in_a_checkpoint_manifest_is_one_line(home, refused):
    cwd, name = home
    [manifest] = (cwd / "home" / "checkpoints" / name).glob("step_*/manifest.json")
    data = json.loads(manifest.read_text())
    data["state"]["dropout_rng"] = {"bit_generator": "MT19937", "state": {"key": [1, 2], "pos": -5}}
    manifest.write_text(json.dumps(data))
    assert "dropout generator state" in refused(
        "train", "--resume", name, "--set", "max_steps=8", "--home", "home", cwd=cwd
    )


@pytest.mark.parametrize("report", [[1, 2, 3], {"data": "a string", "steps": [], "val": []}, "just a string"])
def test_damaged_reports_list_and_refuse_in_one_line(home, report, littlebaby, refused):
    cwd, name = home
    (cwd / "home" / "outputs" / f"report_{name}.json").write_text(json.dumps(report))
    listing = littlebaby("runs", "--home", "home", cwd=cwd)
    assert listing.returncode == 0 and name in listing.stdout and listing.stderr == ""
    refused("train", "--resume", name, "--set", "max_steps=8", "--home", "home", cwd=cwd)


# -- homes and outputs ------------------------------------------------------------------------
def test_an_empty_home_is_refused(tmp_path, refused):
    assert "the home is an empty path" in refused("train", "--home", "", cwd=tmp_path)


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_runs_in_a_home_without_runs_is_one_line(tmp_path, folder, littlebaby):
    (tmp_path / "empty").mkdir()
    done = littlebaby("runs", "--home", folder, cwd=tmp_path)
    assert (
        done.returncode == 0
        and done.stderr == ""
        and done.stdout == f"no runs in {folder} (littlebaby train makes one)\n"
    )


@pytest.mark.parametrize(
    "out,expected",
    [
        ("outdir", "it is a directory"),
        ("afile/x.png", "afile is a file, not a directory"),
        ("/proc/x.png", "cannot write /proc/x.png"),
    ],
)
def test_a_figure_that_cannot_be_written(home, out, expected, refused):
    pytest.importorskip("matplotlib", reason="matplotlib, the plot extra, is not installed")
    cwd, name = home
    (cwd / "outdir").mkdir()
    (cwd / "afile").write_text("x")
    assert expected in refused("plot", name, "--out", out, "--home", "home", cwd=cwd)
    assert expected in refused("attention", name, "--prompt", "RO", "--out", out, "--home", "home", cwd=cwd)


# -- plugins ----------------------------------------------------------------------------------
def plugin_dist(tmp_path, name, source):
    """An installed-looking distribution littlebaby-attention-<name> whose entry point is `source`."""
    (tmp_path / f"{name}_plugin.py").write_text(source)
    info = tmp_path / f"littlebaby_attention_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: littlebaby-attention-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[littlebaby]\n{name} = {name}_plugin\n")
    return dict(os.environ, PYTHONPATH=str(tmp_path))


def test_a_plugin_whose_register_hook_raises_leaves_every_command_working(tmp_path, littlebaby):
    env = plugin_dist(
        tmp_path,
        "raising",
        "import littlebaby\n\n@littlebaby.hookimpl\ndef register_attentions(register):\n    raise KeyError('oops')\n",
    )
    done = littlebaby("plugins", cwd=tmp_path, env=env)
    assert done.returncode == 0
    assert done.stderr == (
        "littlebaby: warning: plugin littlebaby-attention-raising failed to register its blocks "
        "(KeyError: 'oops'); its blocks are unavailable\n"
    )
    assert "littlebaby-attention-mha" in done.stdout
    assert any(
        line.split()[:3] == ["broken", "raising", "littlebaby-attention-raising"] for line in done.stdout.splitlines()
    )


# -- found by the review of config, import-original, plugins, distributed and the arguments ----
ORIGINAL = [
    "--config",
    FIXTURE / "config_pre_mha_mlp.json",
    "--tokenizer",
    FIXTURE / "tokenizer.json",
    "--model",
    FIXTURE / "model_pre_mha_mlp.json",
]


# -- config keys --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["5", "{}", '{"n_experts": 2}'])
def test_options_is_not_a_key_a_user_can_set(tmp_path, value, refused):
    # it used to be dropped without a word, so --set options=... did nothing
    line = refused("train", "--config", "tiny", "--set", f"options={value}", "--home", "h", cwd=tmp_path)
    assert "unknown config key 'options'" in line


def test_a_config_file_with_nested_options_is_refused_not_emptied():
    with pytest.raises(UserError, match="unknown config key 'options'"):
        resolve.config({"c_network": "moe", "options": {"n_experts": 2}})


# -- empty paths --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["train", "--config", ""],  # used to train the default baby config for minutes
        ["train", "--config", "tiny", "--data", ""],  # used to read the current directory as a corpus
        ["prepare", "--data", "", "--out", "p"],
        ["prepare", "--data", "text.txt", "--out", ""],
        ["import-original", "--config", "", "--tokenizer", "t.json", "--model", "m.json"],
    ],
)
def test_an_empty_path_is_refused_by_name(tmp_path, command, refused):
    (tmp_path / "text.txt").write_text("some text " * 100)
    assert "is an empty path" in refused(*command, cwd=tmp_path)


def test_an_empty_figure_path_is_refused_not_replaced_by_the_default(tmp_path, tiny_run, refused, tree):
    # `--out ''` used to write the default outputs/plot_<run>.png
    home, name = tiny_run
    before = tree(home)
    assert "is an empty path" in refused("plot", name, "--home", home, "--out", "", cwd=tmp_path)
    assert tree(home) == before


# -- import-original -----------------------------------------------------------------------------
@pytest.mark.parametrize("tokenizer", ["bpe", "nosuch"])
def test_import_original_keeps_the_notebooks_character_tokenizer(tmp_path, tokenizer, refused):
    # c_tokenizer=bpe used to import a run whose config said bpe and whose tokenizer file said char
    line = refused("import-original", *ORIGINAL, "--set", f"c_tokenizer={tokenizer}", "--home", "h", cwd=tmp_path)
    assert "character tokenizer" in line and "c_tokenizer" in line


@pytest.mark.parametrize("override, key", [("n_heads=1", "n_heads"), ("c_sequence=post", "c_sequence")])
def test_import_original_keeps_the_notebooks_architecture(tmp_path, override, key, refused):
    # the same arrays load into a model of another head count or norm placement, which computes something else
    line = refused("import-original", *ORIGINAL, "--set", override, "--home", "h", cwd=tmp_path)
    assert f"keeps the notebook's architecture: {key}" in line and not (tmp_path / "h").exists()


@pytest.mark.parametrize(
    "registered",
    [
        "'odd', object()",
        "'odd', dict",
        "'', littlebaby.Block",
        "7, littlebaby.Block",
        "'odd', littlebaby.text.tokenizer.Tokenizer",
        "'odd', type('Odd', (littlebaby.Block,), {'Options': dict})",
    ],
)  # not an attrs class
def test_a_plugin_registering_something_else_than_a_block_costs_only_its_own_blocks(tmp_path, registered, littlebaby):
    # a non-class used to end every command (even generate) in an AttributeError traceback
    env = plugin_dist(
        tmp_path,
        "odd",
        "import littlebaby, littlebaby.text.tokenizer\n\n@littlebaby.hookimpl\n"
        f"def register_attentions(register):\n    register({registered})\n",
    )
    listing = littlebaby("plugins", cwd=tmp_path, env=env)
    assert listing.returncode == 0, listing.stderr
    assert listing.stderr.startswith(
        "littlebaby: warning: plugin littlebaby-attention-odd failed to register its blocks"
    )
    assert listing.stderr.count("\n") == 1 and "Traceback" not in listing.stderr
    assert any(line.split()[:2] == ["broken", "odd"] for line in listing.stdout.splitlines())
    trained = littlebaby(
        "train", "--config", "tiny", "--set", "max_steps=1", "--quiet", "--home", "h", cwd=tmp_path, env=env
    )
    assert trained.returncode == 0 and "Traceback" not in trained.stderr, trained.stderr


def test_a_tokenizer_hook_must_register_a_tokenizer():
    plugin = types.ModuleType("odd_tokenizer")
    plugin.register_tokenizers = hookimpl(lambda register: register("odd", Block))
    with pytest.raises(TypeError, match="tokenizer 'odd' must be a subclass of littlebaby.text.tokenizer.Tokenizer"):
        Registry(entry_points=False, plugins=[plugin])


# -- MPI launcher variables without a launcher ---------------------------------------------------
@pytest.mark.parametrize(
    "environ",
    [
        {"PMI_SIZE": "²"},  # str.isdigit() says yes, int() says no: used to be a traceback before any command
        {"PMI_SIZE": "2", "PMI_RANK": "²"},
        {"PMI_SIZE": "٢"},  # a digit to Python, not to MPICH, which aborted in MPI_Init
        {"PMI_SIZE": "2", "PMI_RANK": "5"},  # no rank 5 of 2: every command used to exit silently
        {"PMI_SIZE": "2", "PMI_RANK": "-1"},
        {"PMI_SIZE": "-2"},
        {"PMI_RANK": "1"},
    ],
)
def test_launcher_variables_that_no_launcher_sets_are_no_launch(environ):
    assert distributed.launched(environ) == (1, 0)


def test_launcher_variables_that_a_launcher_sets_are_read():
    assert distributed.launched({"PMI_SIZE": "2"}) == (2, 0)  # hydra always sets the rank; 0 is the safe reading
    assert distributed.launched({"PMI_SIZE": "3", "PMI_RANK": "2"}) == (3, 2)


def without_launcher() -> dict:
    """This environment without any launcher's variables (the tests might run under one)."""
    return {
        k: v for k, v in os.environ.items() if k not in [n for pair in distributed.LAUNCHER_VARIABLES for n in pair]
    }


@pytest.mark.parametrize("size,rank", [("²", "0"), ("2", "5"), ("٢", "0")])
def test_a_half_set_launcher_environment_trains_as_one_process(tmp_path, size, rank, littlebaby):
    env = without_launcher()
    done = littlebaby(
        "train",
        "--config",
        "tiny",
        "--set",
        "max_steps=1",
        "--quiet",
        "--home",
        "h",
        cwd=tmp_path,
        env=env | {"PMI_SIZE": size, "PMI_RANK": rank},
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert any((tmp_path / "h" / "models").iterdir())


# -- a user's own text in an error line -------------------------------------------------------
@pytest.mark.parametrize(
    "command,named",
    [
        (
            ["train", "--config", "tiny", "--data", "x=1.txt"],
            "data file x=1.txt not found",
        ),  # was: data file --set x=1.txt
        (["generate", "max_tokens=5"], "no run 'max_tokens=5'"),  # was: no run '--max-tokens 5'
        (["generate", "seed"], "no run 'seed'"),
    ],
)
def test_a_path_or_run_name_is_named_as_the_user_gave_it(home, command, named, refused):
    cwd, _ = home
    assert named in refused(*command, "--home", "home", cwd=cwd)


def test_only_the_keys_an_error_names_become_flags():
    from littlebaby.cli.flags import said

    error = UserError("lower {n_experts} ({n_experts=}2); see {max_tokens}", None, ("n_experts", "max_tokens"))
    assert said(error) == "lower --set n_experts (--set n_experts=2); see --max-tokens"
    assert (
        said(UserError("no run 'max_tokens=5'; file x=1.txt", "{seed}", ()))
        == "no run 'max_tokens=5'; file x=1.txt; {seed}"
    )
    assert (
        said(UserError("drop {config=}..., set {key=}value", None, ("config", "key")))
        == "drop --config ..., set --set key=value"
    )


def test_a_folder_named_like_a_shipped_config_does_not_hide_it(tmp_path, littlebaby, refused):
    # `littlebaby train --home tiny`, then `--config tiny` from the same folder, was refused as
    # "config file tiny is a directory"
    (tmp_path / "tiny").mkdir()
    done = littlebaby("train", "--config", "tiny", "--set", "max_steps=1", "--quiet", "--home", "h", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    (tmp_path / "mine").mkdir()
    assert "config file mine is a directory" in refused("train", "--config", "mine", "--home", "h", cwd=tmp_path)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize(
    "command",
    [
        ["plugins"],
        ["runs", "--home", "home"],
        ["inspect", "last", "--home", "home"],
        ["generate", "last", "--max-tokens", "3", "--home", "home"],
    ],
)
def test_an_output_that_cannot_be_written_is_one_line(home, command, tree):
    # a full disk under `> out.txt` used to end in an OSError traceback
    cwd, _ = home
    before = tree(cwd)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "littlebaby.cli", *command],
            cwd=cwd,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr
        == "littlebaby: error: cannot write the output (No space left on device); free some space, or send it "
        "elsewhere\n"
    )
    assert tree(cwd) == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_run_outlives_an_output_that_cannot_be_written(tmp_path, littlebaby):
    # its first line used to end the run (left 'killed'), then a traceback
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "littlebaby.cli", "train", "--config", "tiny", "--quiet", "--home", "h"],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0
    assert done.stderr == (
        "littlebaby: warning: cannot write the output (No space left on device); the run goes on and is saved\n"
    )
    listing = littlebaby("runs", "--home", "h", cwd=tmp_path)
    assert listing.stdout.splitlines()[1].endswith("finished"), listing.stdout


def test_a_plugin_that_exits_on_import_costs_only_its_own_blocks(tmp_path, littlebaby):
    # a module written as a script (sys.exit at the bottom) used to end every command, silently, with its code
    env = plugin_dist(tmp_path, "script", "import sys\nsys.exit(3)\n")
    done = littlebaby("plugins", cwd=tmp_path, env=env)
    assert done.returncode == 0 and "littlebaby-attention-mha" in done.stdout
    assert done.stderr == (
        "littlebaby: warning: plugin littlebaby-attention-script failed to import (SystemExit: 3); "
        "its blocks are unavailable\n"
    )


def test_an_error_before_the_plugins_load_is_still_one_line_with_a_broken_plugin(tmp_path, littlebaby):
    env = plugin_dist(tmp_path, "script", "import sys\nsys.exit(3)\n")
    # surprise reads its text before the run, so only the error line's key lookup loads the plugins
    done = littlebaby("surprise", "last", "--file", "missing.txt", "--home", "h", cwd=tmp_path, env=env)
    assert (
        done.returncode == 2 and done.stderr == "littlebaby: error: data file missing.txt not found; check the path\n"
    )


def test_a_launcher_variable_left_over_from_another_job_says_how_to_train_alone(tmp_path, littlebaby):
    pytest.importorskip("mpi4py", reason="mpi4py, the mpi extra, is not installed (uv sync --all-extras)")
    env = without_launcher()
    done = littlebaby("train", "--config", "tiny", "--home", "h", cwd=tmp_path, env=env | {"PMI_SIZE": "2"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "left over from another job" in done.stderr and "unset PMI_SIZE to train on one process" in done.stderr
    assert not (tmp_path / "h").exists()


def test_a_config_name_too_long_for_the_system_is_one_line(tmp_path, refused):
    # Path.exists raises ENAMETOOLONG (it ignores only 'not found' errors): was a traceback
    assert "File name too long" in refused("train", "--config", "a" * 300, "--home", "h", cwd=tmp_path)


# -- paths the system will not look up --------------------------------------------------------------
LONG = "a" * 300  # past NAME_MAX (255): every lookup fails with ENAMETOOLONG


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--data", LONG],
        ["prepare", "--data", LONG, "--out", "o"],
        ["runs", "--home", f"{LONG}/b"],
        ["train", "--config", "tiny", "--home", LONG],
    ],
)
def test_a_name_too_long_is_one_line(tmp_path, command, refused):  # were OSError tracebacks
    assert "File name too long" in refused(*command, cwd=tmp_path)


def test_runs_in_a_file_is_not_an_empty_home(tmp_path, refused):  # said "no runs in /etc/passwd" and exit 0
    (tmp_path / "notes.txt").write_text("x")
    assert "notes.txt is a file, not a directory" in refused("runs", "--home", "notes.txt", cwd=tmp_path)


# -- found by the hostile sweep of 2026-11-26 ------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["train", "--config", "tiny", "--data", "text.txt\n", "--home", "h"],  # a path with a newline
        ["generate", "last", "--home", "home\n"],
        ["train", "--config", "tiny", "--set", "c_attention=mha\n", "--home", "h"],
    ],
)
def test_a_newline_in_a_users_value_stays_inside_the_one_line(home, command, refused):
    # the value was printed as it was: the error took two lines
    cwd, _ = home
    assert "\\n" in refused(*command, cwd=cwd)


@pytest.mark.parametrize(
    "obstacle,expected",
    [
        ("symlink loop", "home h is a loop of symbolic links"),
        ("dangling link", "home h is a symbolic link to a missing directory"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["train", "--config", "tiny", "--set", "max_steps=1", "--quiet"],
        ["generate", "last"],
        ["inspect", "last"],
        ["runs"],
    ],
)
def test_a_home_that_is_a_broken_link_is_one_line(tmp_path, obstacle, expected, command, refused):
    # a loop was a RuntimeError traceback (Path.resolve), a dangling link a FileExistsError one (mkdir);
    # then runs listed "no runs" and exited 0, generate and inspect said "no runs with a model in h"
    (tmp_path / "h").symlink_to("h" if obstacle == "symlink loop" else "gone")
    assert expected in refused(*command, "--home", "h", cwd=tmp_path)


def test_an_ambiguous_run_prefix_names_the_runs_it_matches(home, refused):
    # said "no run '<prefix>'" while two runs began with it
    cwd, name = home
    twin = name[:-1] + ("0" if name[-1] != "0" else "1")
    for folder, pattern in (
        ("configs", "config_{}.json"),
        ("tokenizers", "tokenizer_{}.json"),
        ("models", "model_{}.safetensors"),
    ):
        shutil.copy(cwd / "home" / folder / pattern.format(name), cwd / "home" / folder / pattern.format(twin))
    line = refused("generate", name[:8], "--home", "home", cwd=cwd)
    assert f"'{name[:8]}' is the beginning of 2 runs" in line and "give more of the name" in line


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--max-tokens", str(10**30)], "--max-tokens"),  # hung, sampling for ever into a list that grows without end
        (["--top-k", str(10**30)], "--top-k must be a whole number in [0, 2**63)"),  # was taken as "every token"
    ],
)
def test_generate_counts_beyond_reach(home, flags, expected, refused):
    cwd, name = home
    assert expected in refused("generate", name, "--home", "home", *flags, cwd=cwd)


def test_a_huge_seed_is_shown_short(home, refused):
    cwd, name = home
    line = refused("generate", name, "--home", "home", "--seed", "9" * 500, cwd=cwd)
    assert len(line) < 300 and "seed must be a whole number in [0, 2**63)" in line


@pytest.mark.parametrize("block", ["", " mha", "../x", "x" * 100_000])
def test_a_block_name_that_no_package_can_have_gets_no_pip_advice(tmp_path, block, refused):
    # was "pip install littlebaby-attention-../x", and a 100 kB name echoed whole
    line = refused("train", "--config", "tiny", "--set", f"c_attention={block}", "--home", "h", cwd=tmp_path)
    assert "unknown attention block" in line and "pip install" not in line and len(line) < 400, line


def test_weight_decay_that_overshoots_the_weights_is_refused(tmp_path, refused):
    # lr * weight_decay >= 1 flips or grows every weight each step: it diverged, blaming lr alone
    line = refused("train", "--config", "tiny", "--set", "weight_decay=1e300", "--home", "h", cwd=tmp_path)
    assert "lr * weight_decay" in line and "weight_decay" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", [["surprise", "last", "--text", "RO"], ["plot", "last"]])
def test_an_output_onto_a_fifo_is_refused_not_replaced(home, command, refused):
    # the atomic rename put a file in the FIFO's place; as root, `--out /dev/null` replaced the system's /dev/null
    cwd, _ = home
    os.mkfifo(cwd / "pipe")
    assert "it is a FIFO (named pipe), not a regular file" in refused(
        *command, "--home", "home", "--out", "pipe", cwd=cwd
    )


@pytest.mark.parametrize(
    "command", [["plot", "RUN", "--out", "p.png"], ["train", "--resume", "RUN", "--set", "max_steps=8"]]
)
def test_a_report_of_another_run_is_refused(home, command, refused):
    # plot drew the other run's curves under this run's name; resume read the other run's data and
    # blamed the text ("now holds characters the run's vocabulary lacks")
    cwd, name = home
    path = cwd / "home" / "outputs" / f"report_{name}.json"
    other = "0" * 8 + name[8:]
    path.write_text(json.dumps(json.loads(path.read_text()) | {"guid": other}))
    line = refused(*[name if part == "RUN" else part for part in command], "--home", "home", cwd=cwd)
    assert f"is the report of run '{other}', not of {name}" in line


def test_a_folder_in_the_place_of_the_model_file_refuses_resume_before_training(home, refused):
    # the run trained, saved a checkpoint and the report, then failed to write its model
    cwd, name = home
    model = cwd / "home" / "models" / f"model_{name}.safetensors"
    model.unlink()
    model.mkdir()
    line = refused("train", "--resume", name, "--set", "max_steps=8", "--home", "home", cwd=cwd)
    assert f"model_{name}.safetensors" in line and "it is a directory" in line


def test_a_usage_error_shows_a_long_value_cut_short(home, refused):  # argparse echoed all 100,000 digits
    cwd, name = home
    line = refused("generate", name, "--home", "home", "--max-tokens", "9" * 100_000, cwd=cwd)
    assert "invalid int value" in line and len(line) < 300


@pytest.mark.parametrize(
    "link,expected", [("gone", "is a symbolic link to a missing file"), ("mine", "Too many levels of symbolic links")]
)
def test_a_config_that_is_a_broken_link_is_named_as_a_link(
    tmp_path, link, expected, refused
):  # was "no shipped config 'mine'"
    (tmp_path / "mine").symlink_to(link)
    assert expected in refused("train", "--config", "mine", "--home", "h", cwd=tmp_path)


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=30))
@example(text="a\x00b").via("discovered failure")
@example(text="x\ny").via("discovered failure")
def test_any_run_name_or_home_is_one_line(tmp_path_factory, text):
    # a newline in either split the error line; a NUL in a home was a ValueError from os.stat (from Python)
    home = tmp_path_factory.mktemp("empty")
    for argv in (["generate", text, "--home", str(home)], ["inspect", "last", "--home", str(home / text)]):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as usage:  # argparse: a name that looks like an option
                code = usage.code
        assert (
            code == 2 and stderr.getvalue().startswith("littlebaby: error: ") and stderr.getvalue().count("\n") == 1
        ), stderr.getvalue()
    with pytest.raises(UserError):
        api.load(text, home / text)
    try:
        assert api.runs(home / text) == []
    except UserError:
        pass
    assert list(home.iterdir()) == []


BAD_BLOCKS = {  # a forward and backward of an attention block, each with one fault a plugin author makes
    "shape": ("return x[..., :-1]", "return dy", "gives its output of shape (1, 4, 7), not (1, 4, 8)"),
    "raising": ("return self.missing", "return dy", "fails on a first tiny batch (AttributeError:"),
    "nobackward": ("return x", "raise NotImplementedError", "has no backward"),
    "nan": ("return x / 0.0 * 0.0", "return dy", "values that are not finite on a first tiny batch"),
}


@pytest.mark.parametrize("fault", BAD_BLOCKS)
def test_a_block_that_fails_a_first_tiny_batch_is_one_line_naming_its_plugin_and_writes_nothing(
    tmp_path, fault, littlebaby
):
    forward, backward, said = BAD_BLOCKS[fault]
    source = (
        "import numpy as np\nimport littlebaby\n\n"
        "class Bad(littlebaby.Block):\n"
        f"    def forward(self, x, cache=None):\n        {forward}\n"
        f"    def backward(self, dy):\n        {backward}\n\n"
        "@littlebaby.hookimpl\ndef register_attentions(register):\n"
        f"    register('{fault}', Bad)\n"
    )
    env = plugin_dist(tmp_path, fault, source)
    done = littlebaby(
        "train",
        "--config",
        "tiny",
        "--set",
        f"c_attention={fault}",
        "--set",
        "n_emb=8",
        "--set",
        "head_size=8",
        "--set",
        "n_heads=2",
        "--quiet",
        "--home",
        "h",
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"attention block '{fault}' (littlebaby-attention-{fault})" in done.stderr and said in done.stderr
    assert not (tmp_path / "h").exists() or not any((tmp_path / "h").rglob("*.json"))


def test_a_block_declaring_a_negative_size_is_one_line_naming_it(tmp_path, littlebaby):
    source = (
        "import littlebaby\n\n"
        "class Negative(littlebaby.Block):\n"
        "    def __init__(self, config, options=None):\n"
        "        super().__init__(config, options)\n"
        "        self.parameter('w', (-3, config.n_emb))\n\n"
        "@littlebaby.hookimpl\ndef register_attentions(register):\n"
        "    register('negative', Negative)\n"
    )
    env = plugin_dist(tmp_path, "negative", source)
    done = littlebaby(
        "train", "--config", "tiny", "--set", "c_attention=negative", "--home", "h", cwd=tmp_path, env=env
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "attention block Negative (littlebaby-attention-negative) cannot be built" in done.stderr
    assert "shape (-3, 16): every size must be >= 1" in done.stderr
