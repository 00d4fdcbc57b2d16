"""One training step's gradient: forward, loss, backward over a batch.

`compute_gradients(model, ids, targets)` zeroes the flat gradient buffer,
runs the batch and returns the mean loss; the gradient is in `model.grad`.
"""


def compute_gradients(model, ids, targets) -> float:
    """ids, targets (B, T) -> mean loss; model.grad holds d loss / d parameters."""
    model.grad[...] = 0.0
    return model.loss_and_grad(ids, targets)
