"""The house's layout as a rule: layers import downwards only, no module imports itself back.

Every import counts, the ones inside functions too (a local import is how a cycle hides).
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "core" / "littlebaby"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# bottom to top: a module may import its own layer and the layers below it
LAYERS = [
    {"errors"},
    {"system"},
    {"config", "configs", "data"},
    {"nn"},
    {"optim"},
    {"text"},
    {"plugins"},
    {"store"},
    {"training"},
    {"runs", "hf"},
    {"look"},
    {"api", "cli", "serve", "testing", "__init__", "__main__"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set) -> set:
    """Every littlebaby module `path` imports, anywhere in the file."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from its package
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    found.discard(module_name(path))
    return found


def graph() -> dict[str, set]:
    found = modules()
    known = set(found)
    return {name: imports(path, known) - {"littlebaby"} for name, path in found.items()}


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_every_subpackage_has_a_layer():
    for module in modules():
        assert layer(module) is not None


def test_no_import_goes_up_a_layer():
    upward = [f"{a} imports {b}" for a, targets in graph().items() for b in targets if layer(b) > layer(a)]
    assert upward == []


def test_no_module_imports_itself_back():
    edges = graph()
    seen, cycles = {}, []

    def visit(module, trail):
        seen[module] = "open"
        for target in sorted(edges[module]):
            if seen.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target) :] + [target]))
            elif target not in seen:
                visit(target, trail + [target])
        seen[module] = "done"

    for module in sorted(edges):
        if module not in seen:
            visit(module, [module])
    assert cycles == []


def test_folders_and_modules_stay_small():
    for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        count = len([p for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")])
        assert count <= 12, f"{folder.relative_to(PACKAGE.parent)} holds {count} modules"
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300
    }
    assert long == {}


def test_plugins_stay_small():
    plugins = Path(__file__).resolve().parents[1] / "plugins"
    long = {p.name: n for p in plugins.glob("*/*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) > 150}
    assert long == {}


@pytest.mark.parametrize("module", sorted(m for m in modules() if m != "littlebaby"))
def test_the_folder_map_names_every_module(module):
    path = modules()[module].relative_to(PACKAGE.parent).as_posix()
    named = set(re.findall(r"`([\w/]+(?:\.py)?)`", DOCS.read_text(encoding="utf-8")))
    assert path in named or path.removesuffix("/__init__.py") + "/" in named, (
        f"docs/architecture.md does not name {path}"
    )
