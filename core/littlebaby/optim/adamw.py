"""AdamW with decoupled weight decay, over the model's flat parameter buffer.

Decoupled (Loshchilov & Hutter): the decay shrinks the weights directly,
p -= lr * wd * p, instead of adding wd * p to the gradient as the original
did (that is Adam with L2). Only matrices decay; biases, norms and other
vectors do not (they sit after `decay_size` in the flat buffer, see params.py).

`adamw` is the default `c_optimizer`, registered through the same hook a plugin uses (optimizer.py has
the contract); its keys are the core's `beta1`, `beta2` and `weight_decay`.
"""

from functools import partial

import numpy as np

import littlebaby
from littlebaby.optim.optimizer import Optimizer
from littlebaby.system import threads

# Below this many parameters a thread's hand-off costs more than the share of the update it takes.
PIECE_MIN = 1 << 16


class AdamW(Optimizer):
    elementwise = True  # each element's moments and update are its own: it runs on any part of the buffer

    @classmethod
    def build(cls, parameters, config, options=None, threads: int = 1) -> "AdamW":
        return cls(parameters, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay, threads=threads)

    def __init__(self, parameters, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, threads: int = 1):
        self.parameters = parameters
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.m = np.zeros_like(parameters.data)  # first moment
        self.v = np.zeros_like(parameters.data)  # second moment
        self.t = 0
        self.update = np.empty_like(parameters.data)  # the last step's change, p_before - p_after
        # Every element's update is independent of the others: the buffer is cut into one piece
        # per thread, updated at once (threads.py), with the same arithmetic as in one piece.
        size = parameters.data.size
        pieces = max(1, min(threads, size // PIECE_MIN))
        bounds = [size * i // pieces for i in range(pieces + 1)]
        self.pieces = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]

    def step(self, grad, lr: float, only=None):
        """One update of parameters.data from the flat gradient `grad` at learning rate lr; `only`: a list of
        slices of the buffer to update, the rest left as it is (an optimizer that moves some tensors itself)."""
        self.t += 1
        threads.run([partial(self._update, piece, grad, lr) for piece in (self.pieces if only is None else only)])

    def _update(self, piece: slice, grad, lr: float):
        """The update of the elements `piece` of the flat buffer."""
        data, m, v, scratch = self.parameters.data[piece], self.m[piece], self.v[piece], self.update[piece]
        grad = grad[piece]
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - self.beta2
        v += scratch
        # p -= lr * m_hat / (sqrt(v_hat) + eps), with the bias corrections folded into scalars
        np.sqrt(v, out=scratch)
        scratch *= 1.0 / np.sqrt(1.0 - self.beta2**self.t)
        scratch += self.eps
        np.divide(m, scratch, out=scratch)
        scratch *= lr / (1.0 - self.beta1**self.t)
        decay_stop = min(piece.stop, self.parameters.decay_size) - piece.start
        if self.weight_decay and decay_stop > 0:  # decoupled: shrink the weights themselves, p -= lr * wd * p
            scratch[:decay_stop] += (lr * self.weight_decay) * data[:decay_stop]
        # the whole update stays in self.update, so the report's update ratios need no copy of the weights
        data -= scratch

    def state(self) -> dict:
        """Arrays to save for resuming (the step count as a 1-element array)."""
        return {"m": self.m, "v": self.v, "t": np.array([self.t], dtype=np.int64)}

    def load_state(self, state: dict):
        self.m[...] = state["m"]
        self.v[...] = state["v"]
        self.t = int(state["t"][0])


@littlebaby.hookimpl
def register_optimizers(register):
    register("adamw", AdamW)


def clip_grad_norm(grad, max_norm: float) -> float:
    """Scale grad in place so its global L2 norm is at most max_norm (0 = off); return the norm before."""
    norm = float(np.sqrt(grad @ grad))
    if max_norm and norm > max_norm:
        grad *= max_norm / (norm + 1e-6)
    return norm
