"""Muon: momentum orthogonalised by Newton-Schulz for the blocks' 2-D matrices, AdamW for everything else.

For each hidden matrix W (a block's tensor with two axes; not the embeddings, not the head): Nesterov
momentum b <- mu b + g, u = g + mu b; then u's nearest semi-orthogonal matrix, approximately, by `ns_steps`
iterations of X <- a X + (b A + c A^2) X with A = X X^T, from X = u / ||u||_F and (a, b, c) =
(3.4445, -4.7750, 2.0315) (on the wide orientation, so A is the smaller Gram matrix). The step is that
matrix times sqrt(max(1, n_out / n_in)) at rate `muon_lr` (scaled by the schedule as `lr` is), plus
AdamW's decoupled weight decay. Embeddings, the head, gains and biases take AdamW's step, with the core's
`lr`, `beta1`, `beta2` and `weight_decay`. littlebaby stores a Linear's weight as (n_in, n_out).
With `muon_momentum_warmup` N > 0 (300 unless set) the momentum rises in a straight line from 0.85 to
`muon_momentum` over the first N steps (the speedrun's warmup: early gradients are averaged over fewer steps).
`ns_steps` is 3 unless set: the source takes 5, but on a CPU each iteration costs a few percent of a step.
Three take singular values down to a tenth of the largest into about 0.5-1.2, five those down to a hundredth.
"""

import math
from functools import partial

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import non_negative, positive, probability
from littlebaby.optim import AdamW, Optimizer, in_parallel

COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(u, steps: int):
    """u (m, n) -> about U V^T of u = U S V^T: its singular values pushed towards 1 (`steps` iterations)."""
    x = u / (np.linalg.norm(u) + 1e-7)
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x  # wide: X X^T is the smaller Gram matrix
    a, b, c = COEFFICIENTS
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


def hidden_matrix(name: str, shape) -> bool:
    """The tensors Muon moves: the blocks' matrices (not the embeddings, the head, gains or biases)."""
    return name.startswith("blocks.") and len(shape) == 2


@attrs.frozen(kw_only=True)
class MuonOptions:
    muon_lr: float = attrs.field(default=0.02, validator=positive)  # peak rate of the hidden matrices
    muon_momentum: float = attrs.field(default=0.95, validator=probability)
    ns_steps: int = attrs.field(default=3, validator=positive)  # Newton-Schulz iterations (the source: 5)
    muon_momentum_warmup: int = attrs.field(default=300, validator=non_negative)  # steps from 0.85 up; 0 = none


class Muon(Optimizer):
    Options = MuonOptions

    def __init__(self, parameters, config, options=None, threads: int = 1):
        self.options = options or MuonOptions()
        self.parameters, self.peak, self.weight_decay = parameters, config.lr, config.weight_decay
        self.adamw = AdamW.build(parameters, config, None, threads)
        self.update = self.adamw.update  # one array: AdamW fills its tensors, Muon the matrices
        self.momentum = np.zeros_like(parameters.data)
        self.matrices, rest = [], []
        for name, spec in parameters.specs.items():
            start = parameters.offsets[name]
            where = slice(start, start + math.prod(spec.shape))
            (self.matrices if hidden_matrix(name, spec.shape) else rest).append((where, spec.shape))
        self.rest = [where for where, _ in rest]
        # the matrices in `threads` groups of about equal work (m n min(m, n) an iteration), one thread each
        self.groups = [[] for _ in range(max(1, min(threads, len(self.matrices))))]
        work = [0] * len(self.groups)
        for matrix in sorted(self.matrices, key=lambda m: -math.prod(m[1]) * min(m[1])):
            least = work.index(min(work))
            self.groups[least].append(matrix)
            work[least] += math.prod(matrix[1]) * min(matrix[1])

    def step(self, grad, lr: float):
        self.adamw.step(grad, lr, only=self.rest)
        rate, mu = self.options.muon_lr * lr / self.peak, self.momentum_at(self.adamw.t)
        in_parallel([partial(self._move, group, grad, rate, mu, lr) for group in self.groups])

    def _move(self, group, grad, rate: float, mu: float, lr: float):
        """The update of the hidden matrices of `group` (each one alone: any grouping gives the same numbers)."""
        data = self.parameters.data
        for where, shape in group:
            g, buffer = grad[where].reshape(shape), self.momentum[where].reshape(shape)
            buffer *= mu
            buffer += g
            direction = orthogonalize(g + mu * buffer, self.options.ns_steps)
            change = (rate * math.sqrt(max(1.0, shape[1] / shape[0]))) * direction
            if self.weight_decay:
                change += (lr * self.weight_decay) * data[where].reshape(shape)
            self.update[where] = change.reshape(-1)
            data[where] -= self.update[where]

    def momentum_at(self, step: int) -> float:
        """The momentum of step (1, 2, ...): muon_momentum, or on its way there from 0.85 during the warmup."""
        warmup, mu = self.options.muon_momentum_warmup, self.options.muon_momentum
        if step >= warmup:
            return mu
        part = step / warmup
        return (1.0 - part) * 0.85 + part * mu

    def state(self) -> dict:
        return {**self.adamw.state(), "momentum": self.momentum}

    def load_state(self, state: dict):
        self.adamw.load_state(state)
        self.momentum[...] = state["momentum"]


@littlebaby.hookimpl
def register_optimizers(register):
    register("muon", Muon)
