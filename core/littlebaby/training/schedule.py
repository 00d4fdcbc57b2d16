"""Learning rate schedule: linear warmup from 0, then cosine decay from lr to min_lr (`schedule: cosine`), or
warmup-stable-decay (`schedule: wsd`): lr held until the last `cooldown` fraction of the steps, then a
straight line down to min_lr, as the speedrun's records use (a long stable phase, a cooldown at the end).

A min_lr above lr (a notebook config with a small lr beside the default min_lr) would make
the "decay" rise; the floor is then lr itself, so the rate stays at its peak after warmup.
"""

import math


def learning_rate(
    step: int,
    total_steps: int,
    lr: float,
    min_lr: float,
    warmup_steps: int,
    schedule: str = "cosine",
    cooldown: float = 0.2,
) -> float:
    """Learning rate for step 0 .. total_steps - 1."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    min_lr = min(min_lr, lr)
    if schedule == "wsd":
        start = max(warmup_steps, total_steps - round(cooldown * total_steps))
        if step < start:
            return lr
        return lr - (lr - min_lr) * min(1.0, (step - start + 1) / max(1, total_steps - start))
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
