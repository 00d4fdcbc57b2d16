"""docs/ops.md is the reference of the ops and layers as they are: written from their docstrings."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "docs" / "make_ops_reference.py"


def test_the_ops_reference_is_current():
    spec = importlib.util.spec_from_file_location("make_ops_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OUT.read_text(encoding="utf-8") == module.reference(), "run: uv run python docs/make_ops_reference.py"


def test_every_op_and_layer_a_plugin_may_use_is_in_it():
    from littlebaby.nn import ops

    text = (SCRIPT.parent / "ops.md").read_text(encoding="utf-8")
    for name in ops.__all__ + ["Linear", "LayerNorm", "RMSNorm", "Embedding", "Dropout", "CausalAttention"]:
        assert f"`{name}(" in text, name
