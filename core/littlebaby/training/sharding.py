"""A sharded optimizer (ZeRO stage 1): each MPI process updates its own part of the parameters, and holds the
optimizer's state for that part alone.

With `shard_optimizer` on, a step's summed gradient reaches each process as its part only (a reduce-scatter
instead of the all-reduce): part r is `world.rows(size)` of rank r, contiguous, the parts differing by at most
one element. Clipping needs the global norm: each process's sum of squares, summed in one all-reduce of a few
numbers (with the statistics' per-group sums). The optimizer runs on the part, then an all-gather brings every
process every part of the parameters. The bytes on the wire are an all-reduce's (MPI all-reduces a large
buffer as a reduce-scatter and an all-gather); the update's work and the optimizer's memory are 1/N.

Only an elementwise optimizer runs on a part (`Optimizer.elementwise`): AdamW does; muon orthogonalises whole
matrices and a sharded run refuses it. A checkpoint holds the whole state as an unsharded run saves it: `whole`
gathers it on rank 0 for the save, and `load_state` takes a whole state and keeps its part, so a checkpoint
resumes on any number of processes, sharded or not.

`updater` gives the trainer one interface for both ways: `clip(grad, max_norm)` (the norm before), then
`step(lr)` (the report's per-group statistics).
"""

import numpy as np

from littlebaby.errors import UserError
from littlebaby.optim.adamw import clip_grad_norm
from littlebaby.optim.optimizer import Optimizer, ParameterPart
from littlebaby.training.stats import GroupStats


def check(config):
    """Refuse, before any file is written, sharding an optimizer that cannot run on a part of the buffer."""
    if config.shard_optimizer and not config.chosen("optimizer").elementwise:
        raise UserError(
            f"optimizer {config.c_optimizer!r} updates whole tensors, so {{shard_optimizer=}}true cannot give "
            "each process a part of the buffer",
            "drop {shard_optimizer=}true, or train with {c_optimizer=}adamw",
            ("shard_optimizer", "c_optimizer"),
        )


def build(config, parameters, options, threads: int, world) -> Optimizer:
    """The run's optimizer: the config's `c_optimizer`, sharded over the world's processes if it says so."""
    chosen = config.chosen("optimizer")
    if not config.shard_optimizer:
        return chosen.build(parameters, config, options, threads)
    check(config)
    return ShardedOptimizer(
        chosen.build(ParameterPart(parameters, world.rows(parameters.size)), config, options, threads),
        parameters.size,
        world,
    )


class ShardedOptimizer(Optimizer):
    """An elementwise optimizer (`inner`) built on this process's part of the buffer; `step` takes the
    gradient of that part. `state()` describes the whole state a checkpoint holds (see `whole`)."""

    def __init__(self, inner: Optimizer, size: int, world):
        self.inner, self.size, self.world = inner, size, world
        self.part = world.rows(size)
        self.loaded = None  # rank 0: the whole state read from a checkpoint, until `from_root` hands it out

    @property
    def update(self) -> np.ndarray:
        return self.inner.update  # of the part

    def step(self, grad, lr: float):
        self.inner.step(grad, lr)

    def per_element(self, array) -> bool:
        """Whether a state array holds one value per element of the part (AdamW's moments; not its step count)."""
        return array.shape == (self.part.stop - self.part.start,)

    def state(self) -> dict:
        """The whole state's names, dtypes and shapes, to check a checkpoint against: the per-element arrays
        stand as read-only views of one zero (`whole` gathers their values)."""
        return {
            name: np.broadcast_to(np.zeros((), array.dtype), (self.size,)) if self.per_element(array) else array
            for name, array in self.inner.state().items()
        }

    def load_state(self, state: dict):
        """From a whole state (a checkpoint's): this process's part of it."""
        inner = self.inner.state()
        self.inner.load_state(
            {name: state[name][self.part] if self.per_element(inner[name]) else state[name] for name in inner}
        )
        if self.world.is_root:
            self.loaded = state


class Gathered:
    """A whole optimizer state, as a checkpoint saves it (`state()`)."""

    def __init__(self, arrays: dict):
        self.arrays = arrays

    def state(self) -> dict:
        return self.arrays


def whole(optimizer: Optimizer):
    """What a checkpoint saves of `optimizer`: itself, or (sharded) its state gathered on rank 0 (None
    elsewhere). Every process calls it, at every save."""
    if not isinstance(optimizer, ShardedOptimizer):
        return optimizer
    world, arrays = optimizer.world, {}
    for name, array in optimizer.inner.state().items():
        arrays[name] = world.gather_parts(array, optimizer.size) if optimizer.per_element(array) else array
    return Gathered(arrays) if world.is_root else None


def from_root(optimizer: Optimizer, world):
    """Rank 0's optimizer state on every process (sharded: each process its part of it), whatever the others
    read. Every process calls it, once, at the start."""
    if not isinstance(optimizer, ShardedOptimizer):
        for array in optimizer.state().values():
            world.broadcast(array)
        return
    if not world.broadcast(np.array([optimizer.loaded is not None]))[0]:
        return  # a new run: every process starts from the same fresh state
    loaded, mine = optimizer.loaded, {}
    for name, array in optimizer.inner.state().items():
        if optimizer.per_element(array):
            mine[name] = world.scatter_parts(loaded[name] if world.is_root else None, np.empty_like(array))
        else:
            mine[name] = world.broadcast(np.array(loaded[name]) if world.is_root else np.empty_like(array))
    optimizer.inner.load_state(mine)
    optimizer.loaded = None


def updater(optimizer: Optimizer, parameters, world):
    """How the trainer clips and updates: the whole buffer on every process, or each process its part."""
    kind = Sharded if isinstance(optimizer, ShardedOptimizer) else Replicated
    return kind(optimizer, parameters, world)


class Replicated:
    """Every process holds the whole summed gradient (step_gradients all-reduced it) and updates every element."""

    reduced_part = None  # step_gradients all-reduces the whole gradient

    def __init__(self, optimizer, parameters, world):
        self.optimizer, self.parameters, self.stats = optimizer, parameters, GroupStats(parameters)

    def clip(self, grad, max_norm: float) -> float:
        self.grad = grad
        return clip_grad_norm(grad, max_norm)

    def step(self, lr: float) -> dict:
        weight_sq = self.stats.squared_norms(self.parameters.data)
        self.optimizer.step(self.grad, lr)
        return self.stats.step_stats(self.grad, weight_sq, self.optimizer.update)


class Sharded:
    """Each process gets its part of the summed gradient, updates that part, and all-gathers the parameters."""

    def __init__(self, optimizer: ShardedOptimizer, parameters, world):
        self.optimizer, self.parameters, self.world = optimizer, parameters, world
        self.part = optimizer.part
        self.stats = GroupStats(parameters, self.part)
        self.grad = np.empty(self.part.stop - self.part.start, dtype=parameters.data.dtype)
        self.reduced_part = self.grad  # step_gradients reduce-scatters the gradient into it

    def clip(self, grad, max_norm: float) -> float:
        """The summed gradient's part (reduced_part), clipped as clip_grad_norm clips the whole; returns the global
        norm before."""
        weight_sq = self.stats.squared_norms(self.parameters.data[self.part])
        sums = self.world.sum(np.concatenate([[float(self.grad @ self.grad)], weight_sq]))
        norm, self.weight_sq = float(np.sqrt(sums[0])), sums[1:]
        if max_norm and norm > max_norm:
            self.grad *= max_norm / (norm + 1e-6)
        return norm

    def step(self, lr: float) -> dict:
        self.optimizer.step(self.grad, lr)
        grad_sq, update_sq = self.stats.squared_norms(self.grad), self.stats.squared_norms(self.optimizer.update)
        sums = self.world.sum(np.concatenate([grad_sq, update_sq]))
        self.world.all_gather(self.parameters.data)
        return self.stats.ratios(sums[: len(grad_sq)], self.weight_sq, sums[len(grad_sq) :])
