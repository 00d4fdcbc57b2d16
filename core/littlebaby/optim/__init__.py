"""Optimizers: how the flat parameter buffer moves given its gradient (optimizer.py: the contract;
adamw.py: AdamW, the default, and clipping).

Below training/ and above nn/, so that an optimizer is a thing of its own, as `torch.optim` is beside
`torch.nn`: it sees the parameters (nn/params.py), not the training loop.
"""

from littlebaby.optim.adamw import AdamW, clip_grad_norm
from littlebaby.optim.optimizer import Optimizer, in_parallel

__all__ = ["AdamW", "Optimizer", "clip_grad_norm", "in_parallel"]
