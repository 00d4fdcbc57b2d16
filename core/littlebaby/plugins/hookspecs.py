"""The hooks a littlebaby plugin implements (this file is the plugin author's reference).

A plugin is a module, registered under the entry point group `littlebaby`,
that implements one or more of these hooks with `@littlebaby.hookimpl`. Each
hook receives a `register(name, block_class)` callback: call it once per block
the plugin provides. The name is what a config selects (`c_attention: "mha"`).
Tokenizers are registered the same way (`c_tokenizer: "bpe"`); their contract
is `littlebaby.text.tokenizer.Tokenizer`. So are optimizers (`c_optimizer:
"muon"`), whose contract is `littlebaby.optim.Optimizer` (optim/optimizer.py), and
position encodings (`c_position: "rope"`), whose contract is `littlebaby.nn.Position`
(nn/position.py).

A block class subclasses `littlebaby.Block`; `core/littlebaby/block.py` is the
whole contract:

- `__init__(config, options=None)` declares parameters (`self.parameter`) and
  sub-layers (`self.add`); a sequence block also gets `attention=`, `network=`;
  an attention block that declares `position=None` gets the config's position.
- `forward(x, cache=None)` and `backward(dy)` on (B, T, n_emb); backward adds
  into `self.grads` and returns dx.
- `Options` (optional): an attrs class of its own config keys with defaults;
  the core validates them like its own, and refuses them when the config does
  not select the block.
- `parameter_formula(config, options)` (optional classmethod): (formula text,
  count) that `littlebaby inspect` checks; without it, inspect says the total
  is not checked.
- `from_original(weights, prefix, config, options)` (optional classmethod):
  the original notebook's weights for this block, by local parameter name;
  without it, `import-original` says the notebook has no such block.
- `hugging_face(family, config, options)` (optional classmethod): where this
  block's tensors sit in a Hugging Face family's files ("gpt2", "llama"), by
  local name (hf/families.py says the form); without it, `import-hf` and
  `export-hf` say the family has no such block.
- `activation_floats(config, options)` (optional classmethod): floats kept
  for backward per token, for the memory check made before allocating;
  without it, a generic estimate from the config's sizes.
- `final_norm(n_emb)` (optional classmethod, sequence blocks): the norm the
  model applies after its last layer; LayerNorm without it (`rms`: RMSNorm).

Example, a whole plugin module::

    import littlebaby

    class MyAttention(littlebaby.Block):
        ...

    @littlebaby.hookimpl
    def register_attentions(register):
        register("mine", MyAttention)
"""

import pluggy

hookspec = pluggy.HookspecMarker("littlebaby")


@hookspec
def register_sequences(register):
    """Register sequence blocks: how one transformer layer wires its norms,
    attention, network and residuals (`pre`, `post`, `rms`)."""


@hookspec
def register_attentions(register):
    """Register attention blocks: token mixing with an optional KV cache
    (`mha`, `moh`; `gqa`, `mla`). An attention that takes `position=` in its `__init__` gets the
    config's position block and applies it to its q and k (see `littlebaby.nn.position`)."""


@hookspec
def register_networks(register):
    """Register network blocks: the per-token feed-forward part (`mlp`, `moe`, `swiglu`)."""


@hookspec
def register_positions(register):
    """Register position encodings: how tokens know where they are, a `littlebaby.nn.Position`
    subclass each (`learned` and `none`, built in; `rope`). The contract (a learned table in the
    model, a map of q and k in every attention) is in `core/littlebaby/nn/position.py`."""


@hookspec
def register_tokenizers(register):
    """Register tokenizers: text to ids and back, a `littlebaby.text.tokenizer.Tokenizer`
    subclass each (`char`, built in; `bpe`)."""


@hookspec
def register_optimizers(register):
    """Register optimizers: how the flat parameter buffer moves given its gradient, a
    `littlebaby.optim.Optimizer` subclass each (`adamw`, built in; `muon`). The contract
    (which tensors it updates, its state for checkpoints, its options) is in
    `core/littlebaby/optim/optimizer.py`."""
