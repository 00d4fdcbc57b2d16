"""A first tiny batch through each block of a new model, before any file of the run is written.

A third-party block with a shape bug, an exception in its forward, no backward, or numbers that are not finite
would otherwise fail deep inside the first step, as a long NumPy traceback, with the run's files already on
disk. Here each block of the first layer takes one small window forward and backward in eval mode (no dropout:
the run's random streams are not touched) and any failure is one line naming the block and its plugin. The
gradients it leaves are zeroed: the parameters and the run are as if it never ran.
"""

import numpy as np

from littlebaby.errors import UserError
from littlebaby.nn.block import Block


def probe(model):
    """Refuse (one line) a model whose blocks fail on a first tiny batch; leaves no trace on it."""
    config = model.config
    owners = {entry.cls: entry for entry in config.selected.values()}
    first = model.layers[0]
    inner = [child for child in first.children.values() if isinstance(child, Block)]
    x = np.random.default_rng(0).standard_normal((1, min(config.n_ctx, 4), config.n_emb)).astype(model.parameters.dtype)
    was_training = model.training
    model.eval()
    try:
        with np.errstate(all="ignore"):  # a non-finite value is said below, once, not as NumPy's warnings
            for block in [*inner, first]:
                _through(block, x, owners.get(type(block)))
    finally:
        model.grad[...] = 0.0
        model.train(was_training)


def _through(block, x, entry):
    what = f"{entry.kind} block {entry.name!r} ({entry.distribution})" if entry else f"block {type(block).__name__}"
    try:
        y = block.forward(x)
        _check(y, x.shape, what, "its output")
        dx = block.backward(np.ones_like(y))
        _check(dx, x.shape, what, "its input's gradient")
    except UserError:
        raise
    except NotImplementedError:
        raise UserError(f"the {what} has no backward", "fix or update the plugin, or choose another block") from None
    except Exception as error:  # anything a plugin's own code raises: one line, not its traceback
        text = " ".join(str(error).split())[:200]
        raise UserError(
            f"the {what} fails on a first tiny batch ({type(error).__name__}: {text})",
            "fix or update the plugin, or choose another block",
        ) from None


def _check(array, shape, what, name):
    if not isinstance(array, np.ndarray) or array.shape != shape:
        found = array.shape if isinstance(array, np.ndarray) else type(array).__name__
        raise UserError(
            f"the {what} gives {name} of shape {found}, not {shape} (B, T, n_emb)",
            "fix the plugin: every block keeps the shape it is given",
        )
    if not np.isfinite(array).all():
        raise UserError(
            f"the {what} gives {name} with values that are not finite on a first tiny batch",
            "fix the plugin (a division by zero, a log of 0?): this is not the learning rate",
        )
