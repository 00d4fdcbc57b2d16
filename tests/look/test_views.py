"""Looking inside a run through the CLI: inspect, plot and attention, as a user runs them."""

import json
import struct
import subprocess
import sys

import pytest
from safetensors.numpy import load_file

import littlebaby

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def littlebaby_cli(*args, cwd, code=0, prelude=""):
    command = [
        sys.executable,
        "-c",
        f"{prelude}import sys; from littlebaby.cli import main; sys.exit(main(sys.argv[1:]))",
        *map(str, args),
    ]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == code, done.stderr
    return done


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def moh_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("look")
    littlebaby_cli(
        "train",
        "--config",
        "tiny",
        "--quiet",
        "--set",
        "c_attention=moh",
        "--set",
        "c_network=moe",
        "--set",
        "max_steps=6",
        "--set",
        "n_layers=2",
        cwd=home,
    )
    return home


def test_inspect_totals_equal_the_model_file(moh_run):
    out = littlebaby_cli("inspect", "last", cwd=moh_run).stdout
    tensors = load_file(next((moh_run / "models").glob("model_*.safetensors")))
    total = sum(t.size for t in tensors.values())
    assert f"total:     {total:,} parameters" in out
    assert "matches" in out and "moh:" in out and "moe:" in out
    for name, tensor in tensors.items():
        assert name in out
    assert "blocks.1.network.up.weight" in out and "per kind:" in out


def test_report_records_group_statistics_every_step(moh_run):
    report = json.loads(next((moh_run / "outputs").glob("report_*.json")).read_text())
    for step in report["steps"]:
        assert set(step["groups"]) == {"embedding", "attention", "network", "norm", "head"}
        assert all(g["grad_norm"] > 0 and g["update_ratio"] > 0 for g in step["groups"].values())


def test_plot_writes_a_png_of_the_right_size(moh_run):
    out = littlebaby_cli("plot", "last", "--out", "curves.png", cwd=moh_run).stdout
    assert "wrote curves.png" in out
    assert png_size(moh_run / "curves.png") == (1100, 700)
    littlebaby_cli("plot", "last", cwd=moh_run)
    assert len(list((moh_run / "outputs").glob("plot_*.png"))) == 1


def test_attention_maps_with_gates(moh_run):
    littlebaby_cli("attention", "last", "--prompt", "To be", "--out", "all.png", cwd=moh_run)
    littlebaby_cli(
        "attention", "last", "--prompt", "To be", "--layer", "1", "--head", "0", "--out", "one.png", cwd=moh_run
    )
    all_w, all_h = png_size(moh_run / "all.png")
    one_w, one_h = png_size(moh_run / "one.png")
    # all: 2 layers x (2 heads + heads gate + experts gate); one: 1 layer x (1 head + 2 gates)
    assert (all_w, all_h) == (1060, 540) and (one_w, one_h) == (820, 300)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--layer", "5"], "layer 5 does not exist (the model has 2); use --layer 0..1"),
        (["--head", "9"], "head 9 does not exist (the model has 2); use --head 0..1"),
        (["--prompt", "x" * 40], "the prompt has 40 tokens, more than n_ctx = 16"),
        (["--prompt", "€"], "'€'"),
    ],
)
def test_attention_bad_input_is_one_line(moh_run, args, message):
    full = ["attention", "last", "--prompt", "To be", *args] if args[0] != "--prompt" else ["attention", "last", *args]
    done = littlebaby_cli(*full, cwd=moh_run, code=2)
    assert message in done.stderr and done.stderr.count("\n") == 1


def test_missing_matplotlib_gets_a_one_line_hint(moh_run):
    done = littlebaby_cli(
        "plot",
        "last",
        "--out",
        "none.png",
        cwd=moh_run,
        code=2,
        prelude="import sys; sys.modules['matplotlib'] = None; ",
    )
    assert "pip install 'littlebaby[plot]'" in done.stderr and done.stderr.count("\n") == 1
    assert not (moh_run / "none.png").exists()


def test_notebook_api_returns_figures(moh_run):
    from matplotlib.figure import Figure

    figure, path = littlebaby.api.plot("last", home=moh_run)
    assert isinstance(figure, Figure) and path is None
    figure, _ = littlebaby.api.attention("last", prompt="To", home=moh_run)
    assert len(figure.axes) == 2 * (2 + 2)
