"""The hooks a littlebaby plugin implements (this file is the plugin author's reference).

A plugin is a module, registered under the entry point group `littlebaby`,
that implements one or more of these hooks with `@littlebaby.hookimpl`. Each
hook receives a `register(name, block_class)` callback: call it once per block
the plugin provides. The name is what a config selects (`c_attention: "mha"`).
Tokenizers are registered the same way (`c_tokenizer: "bpe"`); their contract
is `littlebaby.tokenizer.Tokenizer`.

A block class subclasses `littlebaby.Block` (see `littlebaby/block.py` for the
contract). It may declare `Options`, an attrs class of its own config keys
with defaults; the core validates those keys like its own.

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
    attention, network and residuals (`pre`, `post`)."""


@hookspec
def register_attentions(register):
    """Register attention blocks: token mixing with an optional KV cache
    (`mha`, `moh`)."""


@hookspec
def register_networks(register):
    """Register network blocks: the per-token feed-forward part (`mlp`, `moe`)."""


@hookspec
def register_tokenizers(register):
    """Register tokenizers: text to ids and back, a `littlebaby.tokenizer.Tokenizer`
    subclass each (`char`, built in; `bpe`)."""
