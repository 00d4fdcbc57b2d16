"""Learning rate schedule: linear warmup from 0, then cosine decay from lr to min_lr.

A min_lr above lr (a notebook config with a small lr beside the default min_lr) would make
the "decay" rise; the floor is then lr itself, so the rate stays at its peak after warmup.
"""

import math


def learning_rate(step: int, total_steps: int, lr: float, min_lr: float, warmup_steps: int) -> float:
    """Learning rate for step 0 .. total_steps - 1."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    min_lr = min(min_lr, lr)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
