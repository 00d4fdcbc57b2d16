"""The GPT: embeddings, a stack of sequence blocks from plugins, final norm, head.

    ids (B, T) -> wte[ids] + wpe[positions] -> blocks -> ln_f -> head -> logits (B, T, V)

wpe (learned absolute positions) is there when the position encoding asks for it (`c_position: learned`);
ln_f is the norm the sequence block names (`final_norm`: LayerNorm unless it says otherwise).

The model knows nothing of files, the CLI or the training loop. It owns the
flat parameter buffer (`self.parameters`, see params.py) and the generator
every dropout draws from (`self.rng`); `replica()` gives a second model that
shares the parameters but has its own gradient buffer, saved activations and
generator, which is how a batch is split over threads (step.py keeps them).
Blocks are built by `build_block`, the one builder the testing kit uses too.
"""

import inspect

import numpy as np

from littlebaby.config import Config, block_options
from littlebaby.errors import UserError
from littlebaby.nn import sizes
from littlebaby.nn.block import Block, Layer
from littlebaby.nn.kv_cache import KVCache
from littlebaby.nn.layers import Embedding, LayerNorm, Linear
from littlebaby.nn.ops.loss import cross_entropy
from littlebaby.nn.ops.reduce import column_sum
from littlebaby.nn.params import Parameters
from littlebaby.system import arguments, memory

BLOCKS = ("sequence", "attention", "network")


def build_block(kind: str, config: Config, cls: type | None = None) -> Block:
    """One block of `kind` ("sequence", "attention", "network", "position") with its options from `config`.

    cls: the block class; by default the one the (resolved) config selects. A sequence block
    gets the config's attention and network blocks inside it, an attention block that takes
    `position=` the config's position encoding (position.py).
    """
    cls = cls or config.chosen(kind)
    inner = {part: build_block(part, config) for part in ("attention", "network")} if kind == "sequence" else {}
    if kind == "attention":
        inner = _position_for(cls, config)
    try:
        block = cls(config, block_options(config, cls), **inner)
    except (ValueError, TypeError) as error:  # a plugin's own code: one line naming it, not a traceback
        entry = config.selected.get(kind)
        where = f" ({entry.distribution})" if entry is not None and entry.cls is cls else ""
        text = " ".join(str(error).split())[:200]
        raise UserError(
            f"the {kind} block {cls.__name__}{where} cannot be built ({text})",
            "fix or update the plugin, or choose another block",
        ) from None
    if kind == "attention" and config.qk_norm and not any(getattr(part, "qk_norm", False) for part in block.walk()):
        raise UserError(
            f"the attention block {cls.__name__} does not normalise q and k (qk_norm)",
            "set {qk_norm=}false, or build the block's CausalAttention with CausalAttention.of(config)",
            "qk_norm",
        )
    return block


def _position_for(attention: type, config: Config) -> dict:
    """{"position": the config's position block} for an attention that takes one; {} for one that does not,
    which is only right when the position does nothing inside attentions."""
    position = config.chosen("position")
    if "position" in inspect.signature(attention).parameters:
        return {"position": build_block("position", config)}
    if position.in_attention:
        raise UserError(
            f"the attention block {attention.__name__} does not take a position encoding, and "
            f"c_position {config.c_position!r} acts inside the attention",
            "choose c_position learned or none, or an attention that takes positions (mha, moh, gqa)",
            "c_position",
        )
    return {}


class GPT(Layer):
    """forward(ids (B, T), cache=None) -> logits (B, T, V); backward(dlogits, finished=None) fills self.grad."""

    def __init__(self, config: Config, vocab_size: int, parameters: Parameters | None = None, initialize=True):
        super().__init__()
        self.config = config  # resolved: it carries the block classes it selects (config.chosen)
        self.vocab_size = vocab_size
        self.wte = self.add("wte", Embedding(vocab_size, config.n_emb))
        self.wpe = self.add("wpe", Embedding(config.n_ctx, config.n_emb)) if config.pos_emb else None
        ln_f = config.chosen("sequence").final_norm(config.n_emb) or LayerNorm(config.n_emb)
        ln_f.eps = config.norm_eps
        # tied: the head is wte transposed, no tensor of its own (and no bias)
        head = None if config.tie_embeddings else Linear(config.n_emb, vocab_size, bias=config.bias)
        # blocks only declare shapes: one layer tells the size of all, before n_layers are built or allocated
        first = build_block("sequence", config)
        if parameters is None:
            ends = [layer for layer in (self.wte, self.wpe, ln_f, head) if layer is not None]
            total = sum(map(sizes.count, ends)) + config.n_layers * sizes.count(first)
            memory.require(sizes.model_needs(config, total, vocab_size), "this model")
        self.layers = [self.add("blocks.0", first)]
        self.layers += [self.add(f"blocks.{i}", build_block("sequence", config)) for i in range(1, config.n_layers)]
        self.ln_f = self.add("ln_f", ln_f)
        self.head = self.add("head", head) if head is not None else None
        if parameters is None:
            self.parameters = Parameters(self, config.dtype)
            if initialize:  # not for a model about to be filled from a file: drawing GPT-2's 124M numbers takes seconds
                rng = np.random.default_rng(config.seed)
                self.parameters.initialize(rng, config.init_std, config.n_layers, config.zero_init_residual)
        else:  # a replica: same parameters, its own gradients
            self.parameters = parameters
            parameters.bind(self, np.zeros_like(parameters.data))
        self.every_block = list(self.walk())  # walked once: mode switches loop over a list, not a recursive generator
        self.set_rng(np.random.default_rng([config.seed, 1]))

    # -- modes --------------------------------------------------------------
    def train(self, mode: bool = True):
        for block in self.every_block:
            block.training = mode
        return self

    def eval(self):
        return self.train(False)

    def set_rng(self, rng):
        """Make `rng` the model's generator (`self.rng`): every dropout in the model draws from it."""
        for block in self.every_block:  # the model itself included
            block.rng = rng

    def replica(self, seed_offset: int = 1) -> "GPT":
        """A model sharing these parameters, with its own gradients and saved activations."""
        twin = GPT(self.config, self.vocab_size, parameters=self.parameters)
        twin.set_rng(np.random.default_rng([self.config.seed, 1, seed_offset]))
        twin.train(self.training)
        return twin

    # -- computing ----------------------------------------------------------
    def forward(self, ids, cache: KVCache | None = None):
        """ids (B, T) int -> logits (B, T, V). With a cache, ids are the tokens after cache.pos."""
        B, T = ids.shape
        start = cache.pos if cache is not None else 0
        if start + T > self.config.n_ctx:
            raise ValueError(f"{T} tokens at position {start} exceed n_ctx {self.config.n_ctx}")
        self.saved = B
        x = self.wte.forward(ids)
        if self.wpe is not None:
            x = x + self.wpe.forward(np.arange(start, start + T))
        for i, layer in enumerate(self.layers):
            x = layer.forward(x, cache.layers[i] if cache is not None else None)
        logits = self.head_forward(self.ln_f.forward(x))
        if cache is not None:
            cache.pos += T
        return logits

    def head_forward(self, h):
        """h (B, T, C) -> logits (B, T, V): the head, or with tied embeddings h @ wte^T; then the soft cap."""
        if self.head is not None:
            logits = self.head.forward(h)
        else:
            self.saved_h = h
            logits = h @ self.wte.params["weight"].T
        cap = self.config.logit_softcap
        if cap:  # cap * tanh(logits / cap): backward needs the tanh
            self.saved_tanh = np.tanh(logits / cap)
            logits = cap * self.saved_tanh
        return logits

    def head_backward(self, dlogits):
        """dlogits (B, T, V) -> dh; a tied head's weight gradient adds into wte's (its other use)."""
        if self.config.logit_softcap:
            dlogits = dlogits * (1.0 - self.saved_tanh * self.saved_tanh)
        if self.head is not None:
            return self.head.backward(dlogits)
        h, embedding = self.saved_h, self.wte.params["weight"]
        V, C = embedding.shape
        self.wte.grads["weight"] += dlogits.reshape(-1, V).T @ h.reshape(-1, C)
        return dlogits @ embedding

    def backward(self, dlogits, finished=None):
        """dlogits (B, T, V) -> adds every parameter's gradient into self.grad.

        finished(i), if given, is called as soon as the gradients of `stages()[i]` are complete, in order:
        a caller may start to use them while the rest of the backward pass runs (training sums them over
        processes then)."""
        finished = finished or (lambda stage: None)
        dx = self.ln_f.backward(self.head_backward(dlogits))
        finished(0)
        for i, layer in enumerate(reversed(self.layers)):
            dx = layer.backward(dx)
            finished(i + 1)
        self.wte.backward(dx)
        if self.wpe is not None:
            B, T, C = dx.shape
            # positions are shared by the batch: their gradient is the sum over it
            self.wpe.backward(column_sum(dx.reshape(B, T * C)).reshape(T, C))
        finished(len(self.layers) + 1)

    def stages(self) -> list[list[Layer]]:
        """The layers whose gradients `backward` completes, one list per stage, in the order it completes them:
        the head and ln_f, the blocks from the last to the first, the embeddings (a tied head adds into wte's)."""
        ends = [[layer for layer in (self.head, self.ln_f) if layer is not None]]
        return (
            ends + [[layer] for layer in reversed(self.layers)] + [[e for e in (self.wte, self.wpe) if e is not None]]
        )

    def loss_and_grad(self, ids, targets) -> float:
        """Forward, mean cross-entropy, backward; gradients accumulate into self.grad."""
        loss, dlogits = cross_entropy(self.forward(ids), targets)
        self.backward(dlogits)
        return loss

    def loss(self, ids, targets) -> float:
        """Mean cross-entropy without gradients (eval mode is up to the caller)."""
        return cross_entropy(self.forward(ids), targets)[0]

    def logits(self, ids, cache: KVCache | None = None, check: bool = True):
        """Logits in eval mode for ids (T,) or (B, T); restores the previous mode. check: refuse (one line) ids
        that are not whole numbers in range(vocab_size), or more at once than memory holds; or neither
        (generation, whose ids are its own and whose longest window it checks once, skips both)."""
        ids = arguments.given_ids(ids, self.vocab_size, shapes=(1, 2)) if check else np.asarray(ids)
        if check and ids.size > 1:  # a prompt or a text at once (a token alone costs little): will it fit?
            needs = sizes.window_needs(self.config, self.vocab_size, ids.size)
            memory.require(needs, "a forward pass of this text", "give fewer tokens at once")
        was_training = self.training
        if was_training:  # switching modes walks every block: only when needed (per-token cost in generation)
            self.eval()
        single = ids.ndim == 1
        try:
            out = self.forward(ids[None] if single else ids, cache)
        finally:
            if was_training:
                self.train(True)
        return out[0] if single else out

    def new_cache(self) -> KVCache:
        return KVCache(self.config.n_layers, self.config.n_ctx)

    @property
    def slides(self) -> bool:
        """Whether generation past n_ctx slides the window (no absolute positions) or refills it (cache.py)."""
        return self.wpe is None

    def record(self, on: bool = True):
        """Start (or stop) keeping observations (attention weights, gates) on every block."""
        for block in self.every_block:
            block.observations = {} if on else None

    # -- growing --------------------------------------------------------------
    def grow_vocab(self, vocab_size: int, rng) -> "GPT":
        """A model with room for more tokens: old ids keep their rows (of wte) and columns (of the head),
        new ones are initialised by the rule each tensor declares, as a new model's (params.py)."""
        if vocab_size < self.vocab_size:
            raise UserError(f"cannot shrink the vocabulary from {self.vocab_size} to {vocab_size}")
        grown = GPT(self.config, vocab_size)
        new = grown.parameters.named()
        config = self.config
        for name, value in self.parameters.named().items():
            new[name][tuple(slice(0, n) for n in value.shape)] = value
            for axis, (n_old, n_new) in enumerate(zip(value.shape, new[name].shape)):
                if n_new > n_old:  # the vocabulary's axis: rows of wte, columns and bias of the head
                    part = (slice(None),) * axis + (slice(n_old, None),)
                    grown.parameters.initialize_part(name, part, rng, config.init_std, config.n_layers)
        return grown
