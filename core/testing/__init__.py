"""littlebaby.testing: the checks our own blocks pass, for anyone's blocks.

    check_gradients(block_or_model, ...)   float64 finite differences, names the worst tensor
"""

from littlebaby.testing.gradients import (
    GradientReport,
    bind_parameters,
    check_gradients,
    numerical_gradient,
    randomize,
)

__all__ = ["GradientReport", "bind_parameters", "check_gradients", "numerical_gradient", "randomize"]
