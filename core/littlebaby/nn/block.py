"""The block contract: what every sequence, attention and network plugin implements.

Two classes, one for each contract:

`Layer` is anything with parameters and sub-layers: the core layers in
layers.py (`Linear`, `LayerNorm`, `Embedding`, `Dropout`, `CausalAttention`),
the GPT itself, and every block. In `__init__` it declares its parameters with
`self.parameter(...)` and its sub-layers with `self.add(...)`; the model then
allocates every parameter and gradient as a view into one flat buffer and
fills `self.params[name]` and `self.grads[name]`. A layer's `forward` and
`backward` take whatever its idea needs (`CausalAttention.forward(q, k, v)`,
`Embedding.forward(ids)`), documented on the layer; what forward computes for
backward is kept in `self.saved`. Backward ADDS parameter gradients into
`self.grads` (they are zeroed once per step).

`Block` is a `Layer` that a plugin registers and a config selects by name. It
is built from the config, `cls(config, options)` (sequence blocks also get
`attention=` and `network=` blocks), and has one signature for every kind:

    forward(x, cache=None) -> y     x, y: (B, T, n_emb)
    backward(dy) -> dx              dy, dx: (B, T, n_emb)
    cache: None in training; in generation a `LayerCache` (see cache.py) that
           attention blocks fill with what they need from earlier positions.

and four optional class methods the core asks about it:

    parameter_formula(config, options) -> (formula text, count) or None
        The block's parameter count in closed form; `littlebaby inspect` adds
        the blocks' formulas and checks the total against the tensors
        allocated. None (the default): not stated, and inspect prints that the
        total is not checked.
    from_original(weights, prefix, config, options) -> {local name: array} or None
        How the original notebook's saved weights map onto this block's
        parameters (`littlebaby import-original`). `weights(key)` reads one of
        the notebook's arrays, `weights.bias(key, size)` one it may have saved
        as null (zeros then); `prefix` is the layer's key prefix (`block_0_`).
        Return this block's own parameters by local name (`qkv.weight`); a
        sequence block returns only its own (`ln1.weight`), not its children's.
        None (the default): the notebook has no such block, a one-line error.
    activation_floats(config, options) -> int or None
        Floats one instance keeps for backward per token, for the memory
        estimate made before a model or a batch is allocated (memory.py).
        Worth stating when they grow with the block's own options (moe's
        experts); None (the default): a generic count from the config's sizes.
    final_norm(n_emb) -> Layer or None      (sequence blocks)
        The norm the model applies after its last layer (`ln_f`); None (the
        default) is a LayerNorm. `rms` returns an RMSNorm, so that a model
        normalises one way inside its layers and before its head.

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


class Layer:
    """Parameters, sub-layers and modes: what the model walks, binds and switches."""

    def __init__(self):
        self.specs: dict[str, ParameterSpec] = {}
        self.children: dict[str, "Layer"] = {}
        self.params: dict = {}  # name -> array view into the flat parameter buffer
        self.grads: dict = {}  # name -> array view into the flat gradient buffer
        # set on the root only (the model, or a standalone layer a test binds): its flat buffers
        self.parameters = None  # the Parameters (params.py) all views point into
        self.grad = None  # the flat gradient buffer behind every grads view
        self.training = False
        self.rng = None  # numpy Generator for dropout, set by the model
        self.saved = None  # what backward needs, written by forward
        self.observations = None  # dict while the model records, else None

    # -- declaring --------------------------------------------------------
    def parameter(self, name: str, shape, init: str = "normal", decay: bool | None = None):
        """Declare a parameter; its array appears in self.params[name] once the model is built."""
        shape = tuple(int(s) for s in shape)
        if not all(s > 0 for s in shape):  # numpy would quietly make a -3 (or 0) axis empty
            raise ValueError(f"parameter {name!r} of {type(self).__name__} has shape {shape}: every size must be >= 1")
        if init not in ("normal", "residual", "zeros", "ones"):
            raise ValueError(f"unknown init {init!r} for parameter {name!r}")
        self.specs[name] = ParameterSpec(shape, init, len(shape) >= 2 if decay is None else decay)

    def add(self, name: str, layer: "Layer") -> "Layer":
        """Declare a sub-layer (a core layer or a block); its parameters are named '<name>.<param>'."""
        self.children[name] = layer
        return layer

    # -- walking ----------------------------------------------------------
    def named_layers(self, prefix: str = ""):
        """(name prefix, layer) for this layer and every sub-layer, depth first: ('', self), ('wte.', ...)."""
        yield prefix, self
        for child_name, child in self.children.items():
            yield from child.named_layers(f"{prefix}{child_name}.")

    def named_specs(self, prefix: str = ""):
        """(full name, owning layer, local name, spec) for every parameter, depth first."""
        for path, layer in self.named_layers(prefix):
            for name, spec in layer.specs.items():
                yield path + name, layer, name, spec

    def walk(self):
        """This layer and all sub-layers."""
        return (layer for _, layer in self.named_layers())

    def observe(self, name: str, value):
        if self.observations is not None:
            self.observations[name] = value


class Block(Layer):
    """Base class of every sequence, attention and network block (the plugins' contract above)."""

    Options = None  # an attrs class of the block's own config keys, or None

    def __init__(self, config=None, options=None):
        super().__init__()
        self.config = config
        self.options = options

    @classmethod
    def parameter_formula(cls, config, options):
        """(formula text, parameter count) of one instance, or None: not stated (see the module docstring)."""
        return None

    @classmethod
    def from_original(cls, weights, prefix: str, config, options):
        """{local name: array} from the original notebook's weights, or None: it has no such block."""
        return None

    @classmethod
    def activation_floats(cls, config, options):
        """Floats kept for backward per token by one instance, or None: estimated from the sizes (memory.py)."""
        return None

    @classmethod
    def final_norm(cls, n_emb: int) -> Layer | None:
        """Sequence blocks: the norm after the last layer (ln_f), or None: a LayerNorm (see the contract above)."""
        return None

    def forward(self, x, cache=None):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError
