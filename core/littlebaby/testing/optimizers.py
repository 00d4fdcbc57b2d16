"""`optimizer_suite`: what every optimizer must do, as one pytest class (as `block_suite` is for blocks).

It builds the optimizer as a run does (`build(parameters, config, options, threads)`) on a tiny float64 model
and checks: it minimises a quadratic over every tensor; it lowers a tiny model's training loss; its state
goes through an optimizer file and back so that the continued steps are bit-identical to never stopping;
worker threads change nothing; `update` holds the change it made; its options are validated like a block's.
"""

import functools

import attrs
import numpy as np

from littlebaby.config import block_options
from littlebaby.errors import UserError
from littlebaby.optim.optimizer import Optimizer
from littlebaby.store import weights
from littlebaby.testing.build import registry_with, tiny_model
from littlebaby.training.step import compute_gradients

STATE = {"step": 0}  # the training position saved beside the arrays; the suite reads only the arrays


def optimizer_suite(name: str, *, plugin=None, options=None):
    """A pytest test class for the optimizer registered as `name` (plugin: its module, when not installed;
    options: its own config keys used in every check)."""
    import pytest  # only test code needs pytest

    selected = {"c_optimizer": name, **(options or {})}

    @functools.cache
    def registry():
        return registry_with(plugin)

    def model(seed=0, **keys):
        return tiny_model(registry(), seed=seed, **{**selected, **keys})

    def build(gpt, threads=1):
        cls = gpt.config.chosen("optimizer")
        return cls.build(gpt.parameters, gpt.config, block_options(gpt.config, cls), threads)

    def batch(gpt, seed=1):
        rng = np.random.default_rng(seed)
        ids = rng.integers(0, gpt.vocab_size, (4, gpt.config.n_ctx + 1))
        return ids[:, :-1], ids[:, 1:]

    def train(gpt, optimizer, steps, ids=None):
        ids, targets = ids or batch(gpt)
        losses = []
        for _ in range(steps):
            losses.append(compute_gradients(gpt, ids, targets))
            optimizer.step(gpt.grad, gpt.config.lr)
        return losses

    class Suite:
        def test_registered_and_options_validated(self):
            cls = registry().resolve("optimizer", name).cls
            assert issubclass(cls, Optimizer)
            for field in attrs.fields(cls.Options) if cls.Options is not None else ():
                with pytest.raises(UserError, match=field.name) as error:
                    model(**{field.name: {"bad": 1}})
                assert "\n" not in str(error.value)

        def test_minimises_a_quadratic(self):
            gpt = model()
            optimizer = build(gpt)
            target = gpt.parameters.data + np.random.default_rng(2).standard_normal(gpt.parameters.size) * 0.05
            start = float(np.sum((gpt.parameters.data - target) ** 2))
            for _ in range(300):
                optimizer.step(gpt.parameters.data - target, gpt.config.lr)  # the gradient of 0.5 |p - target|^2
            end = float(np.sum((gpt.parameters.data - target) ** 2))
            assert end < 0.2 * start, f"0.5 |p - target|^2 went from {start / 2:.4g} to {end / 2:.4g} in 300 steps"

        def test_lowers_a_tiny_models_loss(self):
            gpt = model(lr=1e-2)
            losses = train(gpt, build(gpt), 30)
            assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses

        def test_records_its_update(self):
            gpt = model()
            optimizer = build(gpt)
            before = gpt.parameters.data.copy()
            train(gpt, optimizer, 1)
            np.testing.assert_allclose(optimizer.update, before - gpt.parameters.data, rtol=1e-9, atol=1e-15)

        def test_resume_from_its_file_is_bit_identical(self, tmp_path):
            straight, stopped = model(), model()
            train(straight, build(straight), 6)
            first = build(stopped)
            train(stopped, first, 3)
            weights.save_optimizer(tmp_path / "optimizer.safetensors", first, STATE)
            resumed = build(stopped)  # a new process: fresh state, then the file's
            weights.load_optimizer(tmp_path / "optimizer.safetensors", resumed)
            for key, array in first.state().items():
                np.testing.assert_array_equal(resumed.state()[key], array, err_msg=key)
            train(stopped, resumed, 3)
            np.testing.assert_array_equal(stopped.parameters.data, straight.parameters.data)

        def test_threads_change_nothing(self):
            one, two = model(), model()
            train(one, build(one, threads=1), 4)
            train(two, build(two, threads=2), 4)
            np.testing.assert_array_equal(one.parameters.data, two.parameters.data)

    Suite.__name__ = Suite.__qualname__ = f"TestOptimizer{name.capitalize()}"
    return Suite
