"""The optimizer contract: how a plugin moves the flat parameter buffer given its gradient.

An optimizer is registered like a block (`register_optimizers`, selected by `c_optimizer`) and built once per
run with `build(parameters, config, options, threads)`:

- `parameters` is the model's `nn.params.Parameters`: the flat buffer `data`, and where each named tensor
  sits (`named()`, `specs`, `offsets`); `decay_size` ends the tensors weight decay applies to. Which tensors an
  optimizer treats how is its own rule, by name and shape (muon: the blocks' 2-D matrices; AdamW the rest).
- `step(grad, lr)` updates `parameters.data` in place from the flat gradient (already summed over MPI
  processes and clipped), at the schedule's rate `lr` (the config's `lr` at the peak; an optimizer with a
  rate of its own scales it by `lr / config.lr`), and leaves the change it made, before minus after, in
  `update` (an array like `data`: the report's update-to-weight ratios read it).
- `state()` returns its state as named NumPy arrays (a step count as a 1-element int64 array `t`);
  checkpoints save exactly these, and `load_state(arrays)` restores them so that resume continues bit for
  bit. The same gradient gives the same update on every process, so N processes stay one run.
- `Options` (optional): an attrs class of its own config keys, validated like a block's.
- `elementwise` (default False): True when each element's update reads only that element's gradient and
  state (AdamW). Only such an optimizer can be sharded over MPI processes (`shard_optimizer`,
  training/sharding.py): it is then built on a `ParameterPart`, one contiguous part of the buffer with its
  own `data` view and `decay_size`, and its `state()` holds arrays as long as that part (one value per
  element) besides arrays that are the same on every part (a step count). An optimizer that needs whole
  tensors (muon orthogonalises matrices) leaves it False, and a sharded run refuses it.
"""

import numpy as np

from littlebaby.system import blas, threads


def in_parallel(calls: list) -> list:
    """Run `calls` (functions of no arguments, each mostly NumPy work on arrays of its own) at once on the step's
    worker threads, OpenBLAS held to one thread inside each; their results, in order. Each call computes as it
    would alone on one thread, so an optimizer's result does not depend on how its work is split."""
    with blas.limit(1):
        return threads.run(calls)


class Optimizer:
    """Base class of every optimizer plugin (see the module docstring for the contract)."""

    Options = None
    elementwise = False
    update: np.ndarray

    @classmethod
    def build(cls, parameters, config, options=None, threads: int = 1) -> "Optimizer":
        """This optimizer for a model's parameters, from the run's config and the optimizer's own options."""
        return cls(parameters, config, options, threads)

    def step(self, grad: np.ndarray, lr: float):
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def load_state(self, state: dict):
        raise NotImplementedError


class ParameterPart:
    """The contiguous part `part` of a model's flat buffer, as an elementwise optimizer sees it when sharded:
    `data` is a view (an update lands in the model's buffer), `decay_size` ends the decayed elements in it."""

    def __init__(self, parameters, part: slice):
        self.part = part
        self.data = parameters.data[part]
        self.size = self.data.size
        self.decay_size = min(max(parameters.decay_size - part.start, 0), self.size)
