"""The block contract: what every sequence, attention and network plugin implements.

A block is built from the model config (and its own `Options`, if it declares
them). In `__init__` it declares its parameters with `self.parameter(...)` and
its sub-blocks with `self.add(...)`; the model then allocates every parameter
and gradient as a view into one flat buffer and fills `self.params[name]` and
`self.grads[name]`. `forward(x, cache=None)` computes the output and keeps what
backward needs in `self.saved`; `backward(dy)` returns the input gradient and
ADDS parameter gradients into `self.grads` (they are zeroed once per step).

    x, dy: (B, T, n_emb) for every block kind.
    cache: None in training; in generation a `LayerCache` (see cache.py) that
           attention blocks fill with what they need from earlier positions.

Attention and network blocks publish what a person may want to look at (the
attention weights, a gate) with `self.observe(name, array)`; it costs nothing
unless the model is asked to record.
"""

import attrs


@attrs.frozen
class ParameterSpec:
    """Shape and initialisation of one parameter tensor.

    init: "normal" (N(0, init_std)), "residual" (N(0, init_std / sqrt(2 n_layers)),
    for projections that write into the residual stream, as GPT-2), "zeros", "ones".
    decay: whether AdamW's weight decay applies (by default: matrices yes, vectors no).
    """

    shape: tuple
    init: str
    decay: bool


class Block:
    """Base class of every block, core layers and plugins alike."""

    Options = None  # an attrs class of the block's own config keys, or None

    def __init__(self, config=None, options=None):
        self.config = config
        self.options = options
        self.specs: dict[str, ParameterSpec] = {}
        self.children: dict[str, "Block"] = {}
        self.params: dict = {}  # name -> array view into the flat parameter buffer
        self.grads: dict = {}  # name -> array view into the flat gradient buffer
        self.training = False
        self.rng = None  # numpy Generator for dropout, set by the model
        self.saved = None  # what backward needs, written by forward
        self.observations = None  # dict while the model records, else None

    @classmethod
    def final_norm(cls, n_emb: int) -> "Block":
        """Sequence blocks: the norm the model applies after its last layer (named ln_f).

        A LayerNorm unless the sequence block overrides this, as `rms` does, so that a
        model normalises the same way inside its layers and before its head.
        """
        from littlebaby.layers import LayerNorm  # layers build on this module

        return LayerNorm(n_emb)

    # -- declaring --------------------------------------------------------
    def parameter(self, name: str, shape, init: str = "normal", decay: bool | None = None):
        """Declare a parameter; its array appears in self.params[name] once the model is built."""
        shape = tuple(int(s) for s in shape)
        if init not in ("normal", "residual", "zeros", "ones"):
            raise ValueError(f"unknown init {init!r} for parameter {name!r}")
        self.specs[name] = ParameterSpec(shape, init, len(shape) >= 2 if decay is None else decay)

    def add(self, name: str, block: "Block") -> "Block":
        """Declare a sub-block; its parameters are named '<name>.<param>'."""
        self.children[name] = block
        return block

    # -- walking ----------------------------------------------------------
    def named_specs(self, prefix: str = ""):
        """(full name, owning block, local name, spec) for every parameter, depth first."""
        for name, spec in self.specs.items():
            yield prefix + name, self, name, spec
        for child_name, child in self.children.items():
            yield from child.named_specs(f"{prefix}{child_name}.")

    def walk(self):
        """This block and all sub-blocks."""
        yield self
        for child in self.children.values():
            yield from child.walk()

    def observe(self, name: str, value):
        if self.observations is not None:
            self.observations[name] = value

    # -- computing --------------------------------------------------------
    def forward(self, x, cache=None):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError
