"""Optimizers: how the flat parameter buffer moves given its gradient (adamw.py: AdamW and clipping).

Below training/ and above nn/, so that an optimizer is a thing of its own, as `torch.optim` is beside
`torch.nn`: it sees the parameters (nn/params.py), not the training loop.
"""

from littlebaby.optim.adamw import AdamW, clip_grad_norm

__all__ = ["AdamW", "clip_grad_norm"]
