"""Write docs/ops.md, the reference of every op and layer a plugin may use, from their docstrings.

    uv run python docs/make_ops_reference.py

tests/nn/ops/test_ops_reference.py checks that docs/ops.md is what this script writes, so the reference
changes with the code it describes.
"""

import inspect
import sys
from pathlib import Path

from littlebaby import nn
from littlebaby.nn import layers, ops

OUT = Path(__file__).with_name("ops.md")

HEADER = """# Ops and layers: the reference

What a block is built from, on the face plugins import (`from littlebaby.nn import Linear, ops`). Every op is a
pair: `X_forward` returns the output (and, where backward needs more than the inputs, a `saved` value) and
`X_backward` takes the output's gradient and returns the input's, ADDING parameter gradients into the arrays it
is given, so one zeroing of the flat gradient buffer per step serves every op. Shapes: B batch, T positions
(S keys, the cache's earlier positions first), H heads, d head width, n_in, n_out, V vocabulary. Every op runs
in float32 (training) and float64 (the gradient checks). Written from the docstrings by
`docs/make_ops_reference.py`; the source is in `core/littlebaby/nn/ops/` and `core/littlebaby/nn/layers.py`.
"""


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _signature(name, obj) -> str:
    try:
        return f"{name}{inspect.signature(obj)}"
    except (TypeError, ValueError):
        return name


def reference() -> str:
    lines = [HEADER, "## Layers (`littlebaby.nn`)", ""]
    for name in sorted(
        n for n in nn.__all__ if inspect.isclass(getattr(nn, n)) and getattr(nn, n).__module__ == layers.__name__
    ):
        cls = getattr(nn, name)
        lines += [f"### `{_signature(name, cls)}`", "", _doc(cls), ""]
        for method in ("forward", "backward"):
            function = cls.__dict__.get(method)
            if function is not None:
                text = _doc(function)
                lines += [f"- `{_signature(method, function)}`" + (f": {text}" if text else ""), ""]
    lines += ["## Ops (`littlebaby.nn.ops`)", ""]
    modules = {}
    for name in ops.__all__:
        function = getattr(ops, name)
        modules.setdefault(function.__module__, []).append((name, function))
    for module_name, functions in sorted(modules.items()):
        module = sys.modules[module_name]
        lines += [f"### `{module_name.rsplit('.', 1)[-1]}`: {_doc(module).splitlines()[0]}", ""]
        for name, function in functions:
            text = _doc(function)
            lines += [f"- `{_signature(name, function)}`" + (f": {text}" if text else ""), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(reference(), encoding="utf-8")
    print(f"wrote {OUT}")
