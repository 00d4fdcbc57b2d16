"""Plugin discovery: which block classes and tokenizers exist, from which distribution.

Blocks come from pluggy hooks (`littlebaby.plugins.hookspecs`) implemented by modules
registered under the entry point group `littlebaby`. Plugins are loaded one
entry point at a time rather than with `PluginManager.load_setuptools_entrypoints`
alone, so that one plugin failing to import, or raising in its register hook,
only costs its own blocks: it is reported as a warning, listed as broken, and
becomes an error only when a config names a block it would have provided.
"""

import difflib
import importlib
import importlib.metadata
import re
import warnings

import attrs
import pluggy

from littlebaby.config import CORE_KEYS
from littlebaby.errors import UserError, shown
from littlebaby.nn.block import Block
from littlebaby.nn.position import Position
from littlebaby.optim.optimizer import Optimizer
from littlebaby.plugins import hookspecs

# kind -> name of the hook that registers blocks of that kind
KINDS = {
    "sequence": "register_sequences",
    "attention": "register_attentions",
    "network": "register_networks",
    "position": "register_positions",
    "tokenizer": "register_tokenizers",
    "optimizer": "register_optimizers",
}
BUILT_IN = (
    "littlebaby.text.char",
    "littlebaby.optim.adamw",
    "littlebaby.nn.position",
)  # the core's own plugins, registered like any other
PACKAGE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")  # PEP 508's name, of a sane length


def _core_version() -> str:
    import littlebaby

    return littlebaby.__version__


class PluginWarning(UserWarning):
    """A plugin could not be loaded; the other plugins keep working."""


@attrs.frozen
class Entry:
    """One registered block: its kind, name, class and where it came from."""

    kind: str
    name: str
    cls: type
    distribution: str
    version: str


@attrs.frozen
class BrokenPlugin:
    entry_point: str
    distribution: str
    version: str
    error: str
    stage: str = "failed to import"  # or "failed to register its blocks"


class Registry:
    """The installed blocks, by kind and name.

    `Registry()` discovers installed plugins through entry points;
    `Registry(entry_points=False, plugins=[module])` registers plugins directly
    (tests, notebooks).
    """

    def __init__(self, entry_points: bool = True, plugins=()):
        self.manager = pluggy.PluginManager("littlebaby")
        self.manager.add_hookspecs(hookspecs)
        self.blocks: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self.broken: list[BrokenPlugin] = []
        for module in BUILT_IN:
            self.add(importlib.import_module(module), name=module, distribution="littlebaby", version=_core_version())
        if entry_points:
            self._load_entry_points()
        for plugin in plugins:
            self.add(plugin)

    def _load_entry_points(self):
        for ep in importlib.metadata.entry_points(group="littlebaby"):
            dist = ep.dist.name if ep.dist else ep.value
            version = ep.dist.version if ep.dist else "?"
            if self.manager.get_plugin(ep.name) is not None:
                continue
            doing = "failed to import"
            try:
                plugin = ep.load()
                doing = "failed to register its blocks"
                self.add(plugin, name=ep.name, distribution=dist, version=version)
            except UserError:  # two plugins claiming one block name: the user must choose
                raise
            except (Exception, SystemExit) as error:  # any failure in someone else's code, a script's sys.exit too
                broken = BrokenPlugin(ep.name, dist, version, f"{type(error).__name__}: {error}", doing)
                self.broken.append(broken)
                warnings.warn(
                    f"plugin {dist} {doing} ({broken.error}); its blocks are unavailable", PluginWarning, stacklevel=2
                )

    def add(self, plugin, name=None, distribution=None, version=None):
        """Register a plugin object (module or class) and collect its blocks.

        Its hooks all run before any of its blocks is kept: a hook that raises leaves
        the registry as it was (the plugin unregistered) and the error propagates."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        distribution = distribution or name
        version = version or getattr(plugin, "__version__", "?")
        self.manager.register(plugin, name=name)
        found = []
        try:
            for kind, hook_name in KINDS.items():
                for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                    if impl.plugin is not plugin:
                        continue

                    def register(block_name, cls, kind=kind):
                        found.append(Entry(kind, block_name, cls, distribution, version))

                    impl.function(register=register)
            for entry in found:
                _check_contract(entry)
                self._check_options(entry)
        except BaseException:
            self.manager.unregister(plugin)
            raise
        for entry in found:
            self._register(entry)

    def _check_options(self, entry: Entry):
        """An option sits flat beside the core keys in a config: one named like a core key, or like another
        installed plugin's option, would be read by both, so the later plugin is refused, naming the other."""
        if entry.cls.Options is None:
            return
        declared = self.declared_options()
        for field in attrs.fields(entry.cls.Options):
            if field.name in CORE_KEYS:
                raise TypeError(
                    f"{what(entry.kind)} {entry.name!r} declares option {field.name!r}, a core config key: rename it"
                )
            owner = declared.get(field.name)
            if owner is not None and owner.distribution != entry.distribution:
                raise TypeError(
                    f"{what(entry.kind)} {entry.name!r} declares option {field.name!r}, already an option of "
                    f"{what(owner.kind)} {owner.name!r} ({owner.distribution}): rename one of them"
                )

    def _register(self, entry: Entry):
        known = self.blocks[entry.kind].get(entry.name)
        if known is not None:
            raise UserError(
                f"two plugins register the {entry.kind} block {entry.name!r}: "
                f"{known.distribution} and {entry.distribution}",
                f"uninstall one of them (pip uninstall {entry.distribution})",
            )
        self.blocks[entry.kind][entry.name] = entry
        if entry.kind == "tokenizer":
            entry.cls.name = entry.name  # recorded in the run's tokenizer file

    def resolve(self, kind: str, name: str) -> Entry:
        """The block `name` of `kind`, or a one-line UserError saying what is installed."""
        entry = self.blocks[kind].get(name)
        if entry is not None:
            return entry
        distribution = f"littlebaby-{kind}-{name}"
        for broken in self.broken:
            if broken.distribution == distribution or broken.entry_point == name:
                raise UserError(
                    f"{what(kind)} {name!r} comes from plugin {broken.distribution}, which {broken.stage} "
                    f"({broken.error})",
                    f"reinstall or fix it: pip install --force-reinstall {broken.distribution}",
                )
        installed = ", ".join(sorted(self.blocks[kind])) or "none"
        close = difflib.get_close_matches(name, list(self.blocks[kind]), n=1)
        if not PACKAGE_NAME.fullmatch(name):  # '', ' mha', '../x': no package is called that, pip would fail
            fix = f"did you mean {close[0]!r}?" if close else f"{what(kind)} names are letters, digits, '.', '-' or '_'"
        else:
            asked = f"did you mean {close[0]!r}? Or install it: " if close else "install it: "
            fix = f"{asked}pip install {distribution}"
        raise UserError(f"unknown {what(kind)} {shown(name)} (installed: {installed})", fix)

    def entries(self):
        """Every registered block, kind by kind, name by name."""
        for kind in KINDS:
            for name in sorted(self.blocks[kind]):
                yield self.blocks[kind][name]

    def declared_options(self) -> dict:
        """Every config key a registered block or tokenizer declares in its Options -> its Entry."""
        declared = {}
        for entry in self.entries():
            if entry.cls.Options is not None:
                for field in attrs.fields(entry.cls.Options):
                    declared.setdefault(field.name, entry)
        return declared


def what(kind: str) -> str:
    """How a message names a plugin of `kind`: 'tokenizer', 'optimizer', 'position encoding', 'attention block'."""
    return {"tokenizer": "tokenizer", "optimizer": "optimizer", "position": "position encoding"}.get(
        kind, f"{kind} block"
    )


def _check_contract(entry: Entry):
    """A registered name must be a non-empty string and its class follow the kind's contract, with
    an attrs class (or None) as Options: anything else would fail later in every command (the
    config reads every block's Options), far from the plugin that caused it; failing here makes
    it that plugin's own error."""
    from littlebaby.text.tokenizer import Tokenizer  # tokenizer.py imports this module

    base = {"tokenizer": Tokenizer, "optimizer": Optimizer, "position": Position}.get(entry.kind, Block)
    if not isinstance(entry.name, str) or not entry.name:
        raise TypeError(f"a {what(entry.kind)} must be registered under a non-empty name, got {entry.name!r}")
    if not (isinstance(entry.cls, type) and issubclass(entry.cls, base)):
        raise TypeError(
            f"{what(entry.kind)} {entry.name!r} must be a subclass of {base.__module__}.{base.__name__}, got "
            f"{entry.cls!r}"
        )
    if entry.cls.Options is not None and not attrs.has(entry.cls.Options):
        raise TypeError(
            f"{what(entry.kind)} {entry.name!r}: Options must be an attrs class or None, got {entry.cls.Options!r}"
        )


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry of installed plugins, discovered once per process."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def rows(registry=None) -> list[dict]:
    """Installed blocks by kind, and plugins that failed to import (`littlebaby plugins`)."""
    registry = registry or default_registry()
    found = [
        {"kind": e.kind, "name": e.name, "distribution": e.distribution, "version": e.version}
        for e in registry.entries()
    ]
    found += [
        {
            "kind": "broken",
            "name": b.entry_point,
            "distribution": b.distribution,
            "version": b.version,
            "error": b.error,
        }
        for b in registry.broken
    ]
    return found
