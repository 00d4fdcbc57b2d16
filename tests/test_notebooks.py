"""The notebooks run top to bottom in a kernel of this environment, without an error.

Each runs in a temporary folder (its `path = "same"`), so no run files land in
the repository. The kernel is this interpreter (`sys.executable -m
ipykernel_launcher`, declared in a kernelspec in a temporary folder), so the
notebooks see exactly the packages the tests see. The notebooks check their
own numbers with `assert`, so a wrong gradient fails here too.

To refresh the outputs committed with the notebooks (after a change to them or
to what they show): `uv run python tests/test_notebooks.py`.
"""

import contextlib
import gc
import json
import sys
import tempfile
import warnings
from pathlib import Path

import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager  # nbclient's own dependency
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ORIGINAL = ROOT / "tests" / "fixtures" / "original"
KERNEL = "littlebaby-tests"


@contextlib.contextmanager
def kernel_manager():
    """A kernel manager whose only kernel is this interpreter."""
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / KERNEL
        spec.mkdir()
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "littlebaby tests", "language": "python"})
        )
        yield KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[folder]))


def execute(name: str, cwd: Path, parameters: str = ""):
    """The notebook `name` executed in cwd; `parameters` is code run right after its "parameters" cell."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    if parameters:  # papermill's convention: a cell after the one tagged "parameters" overrides it
        index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(parameters))
    with kernel_manager() as manager:
        client = nbclient.NotebookClient(
            notebook,
            km=manager,
            timeout=600,
            record_timing=False,
            coalesce_streams=True,
            resources={"metadata": {"path": str(cwd)}},
        )
        try:
            client.execute()  # raises CellExecutionError on the first cell that fails
        finally:
            # the kernel client's zmq sockets are closed by the garbage collector: collect them here, so their
            # ResourceWarnings do not surface later inside another test's warning checks
            del client
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
    return notebook


def outputs(notebook, kind: str) -> list:
    """Every output of one mime type (e.g. "image/png") or stream ("stdout") of the notebook."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("name") == kind:
                found.append(output["text"])
            elif kind in output.get("data", {}):
                found.append(output["data"][kind])
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(home, notebook) of littlebaby.ipynb run with its defaults: plan "train"."""
    home = tmp_path_factory.mktemp("notebook-home")
    return home, execute("littlebaby.ipynb", home)


def test_train_plan_shows_sample_curve_attention_and_losses(trained):
    home, notebook = trained
    stdout = "".join(outputs(notebook, "stdout"))
    assert "best validation loss" in stdout and "ROMEO:" in stdout and "mean loss" in stdout
    assert len(outputs(notebook, "image/png")) == 2  # the loss curve and the attention map
    assert any("<pre" in page for page in outputs(notebook, "text/html"))
    assert len(list((home / "models").glob("model_*.safetensors"))) == 1


def test_inference_plan_trains_nothing(trained):
    home, _ = trained
    (base,) = [p.name[len("model_") : -len(".safetensors")] for p in (home / "models").glob("model_*.safetensors")]
    before = sorted(p.name for p in home.rglob("*.safetensors"))
    notebook = execute("littlebaby.ipynb", home, f'plan = "inference"\nrun = "{base}"\nprompt = "JULIET:"')
    stdout = "".join(outputs(notebook, "stdout"))
    assert f"run {base}:" in stdout and "JULIET:" in stdout and "best validation loss" not in stdout
    assert sorted(p.name for p in home.rglob("*.safetensors")) == before and len(outputs(notebook, "image/png")) == 2


def test_finetune_plan_and_import_of_original_files(trained, tmp_path):
    home, _ = trained  # finetune_data None: the shipped Antigone
    files = {
        kind: str(ORIGINAL / name)
        for kind, name in (
            ("config", "config_pre_mha_mlp.json"),
            ("tokenizer", "tokenizer.json"),
            ("model", "model_pre_mha_mlp.json"),
        )
    }
    notebook = execute("littlebaby.ipynb", home, f'plan = "finetune"\nfinetune_steps = 20\noriginal = {files!r}')
    stdout = "".join(outputs(notebook, "stdout"))
    assert "new characters: [" in stdout and "imported as run" in stdout
    models = sorted(p.name for p in (home / "models").glob("model_*.safetensors"))
    assert len(models) == 3 and sum(name.endswith("_finetuned.safetensors") for name in models) == 1  # + base, imported


def test_inside_a_step(tmp_path):
    notebook = execute("inside_a_step.ipynb", tmp_path)
    assert outputs(notebook, "stdout")
    assert not list(tmp_path.iterdir())  # it writes no files


def refresh(names=("littlebaby.ipynb", "inside_a_step.ipynb")):
    """Execute the notebooks in a temporary folder and save them with their outputs."""
    for name in names:
        with tempfile.TemporaryDirectory() as folder:
            notebook = execute(name, Path(folder))
        for cell in notebook.cells:
            cell.metadata.pop("execution", None)
        nbformat.write(notebook, NOTEBOOKS / name)
        print(f"wrote {NOTEBOOKS / name}")


if __name__ == "__main__":
    refresh(sys.argv[1:] or ("littlebaby.ipynb", "inside_a_step.ipynb"))
