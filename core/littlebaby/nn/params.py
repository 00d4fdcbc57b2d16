"""Flat parameter and gradient buffers.

All parameters of a model live in one contiguous array and all gradients in
another; each block's `params[name]` / `grads[name]` is a view into them. So
AdamW, clipping and zeroing are a handful of whole-array operations (no
Python loop over tensors), and a thread's replica of the model shares the
parameter buffer while owning its gradient buffer. Decayed parameters come
first, so weight decay touches one slice.
"""

import math

import numpy as np


class Parameters:
    """The flat buffers of one model, and where each named tensor sits in them."""

    def __init__(self, root, dtype):
        entries = list(root.named_specs())
        self.dtype = np.dtype(dtype)
        self.specs = {name: spec for name, _, _, spec in entries}  # declaration order
        self.offsets = {}
        offset = 0
        # in the buffer: decayed tensors first, then the rest, each group in declaration order
        for name, _, _, spec in sorted(entries, key=lambda e: not e[3].decay):
            self.offsets[name] = offset
            offset += math.prod(spec.shape)
        self.size = offset
        self.decay_size = sum(math.prod(s.shape) for s in self.specs.values() if s.decay)
        self.data = np.zeros(self.size, dtype=self.dtype)
        self.bind(root, np.zeros(self.size, dtype=self.dtype))

    def view(self, buffer, name):
        start = self.offsets[name]
        shape = self.specs[name].shape
        return buffer[start : start + math.prod(shape)].reshape(shape)

    def bind(self, root, grad):
        """Point every block's params at self.data and its grads at `grad` (a flat array)."""
        for name, owner, local, _ in root.named_specs():
            owner.params[local] = self.view(self.data, name)
            owner.grads[local] = self.view(grad, name)
        root.grad = grad

    def named(self, buffer=None) -> dict:
        """name -> view, in declaration order (buffer: data by default, or a gradient buffer)."""
        buffer = self.data if buffer is None else buffer
        return {name: self.view(buffer, name) for name in self.specs}

    def initialize(self, rng, init_std: float, n_layers: int, zero_residual: bool = False):
        """Every tensor drawn by the rule it declares (`initialize_part`); zero_residual: the projections into
        the residual stream start at zero instead (the speedrun's: each layer starts as the identity)."""
        for name in self.specs:
            self.initialize_part(name, ..., rng, init_std, n_layers)
            if zero_residual and self.specs[name].init == "residual":
                self.view(self.data, name)[...] = 0.0  # drawn all the same: the other tensors' draws are unchanged

    def initialize_part(self, name: str, part, rng, init_std: float, n_layers: int):
        """tensor `name`[part] by its declared init, GPT-2's: "normal" N(0, init_std), "residual"
        (projections into the residual stream) N(0, init_std / sqrt(2 n_layers)), "ones", "zeros".
        part: an index, e.g. `...` for the whole tensor or the new rows of a grown vocabulary."""
        spec = self.specs[name]
        tensor = self.view(self.data, name)[part]
        if spec.init == "ones":
            tensor[...] = 1.0
        elif spec.init == "zeros":
            tensor[...] = 0.0
        else:
            std = init_std / math.sqrt(2 * n_layers) if spec.init == "residual" else init_std
            tensor[...] = rng.standard_normal(tensor.shape) * std
