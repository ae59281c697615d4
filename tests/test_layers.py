"""The layers stay visible: no module imports a higher layer, and no import circle exists,
function-level imports included (an import hidden in a function is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import hpsearch

PACKAGE = Path(hpsearch.__file__).parent

# Lowest first. A module may import its own layer and those below it, never one above.
LAYERS = [
    ("hpsearch", "hpsearch.errors", "hpsearch.compat"),
    ("hpsearch.study",),
    ("hpsearch.data",),
    ("hpsearch.models",),
    ("hpsearch.tracking",),
    ("hpsearch.search",),
    ("hpsearch.results",),
    ("hpsearch.deploy",),
    ("hpsearch.runner", "hpsearch.console", "hpsearch.cli", "hpsearch.__main__", "hpsearch.api"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    best, level = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best and not (prefix == "hpsearch" and module != prefix):
                best, level = len(prefix), index
    assert level is not None, f"{module}: in no layer of tests/test_layers.py"
    return level


def imported_modules(module: str) -> set[str]:
    """hpsearch modules ``module`` imports anywhere in its source. ``from package import
    name`` depends on the submodule ``package.name`` when there is one, else on ``package``."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    found.add(submodule)
                elif node.module in MODULES:
                    found.add(node.module)
    found.discard(module)
    return found


GRAPH = {module: imported_modules(module) for module in MODULES}


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == [], "\n".join(upward)


def test_no_import_circle():
    circles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert circles == [], "\n".join(" -> ".join(circle) for circle in circles)


def test_the_package_lends_its_public_names_to_no_module_of_its_own():
    """``hpsearch/__init__.py`` re-exports the Python API (``hpsearch.api``, the top layer) by
    name, importing it on first use, which the graph above does not see. A module of the
    package taking one of those names from ``hpsearch`` would reach the top layer through
    it: none may."""
    public = {name for name, module in hpsearch._PUBLIC.items() if layer_of(module) > 0}
    borrowed = [
        f"{module} imports {alias.name} from hpsearch"
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "hpsearch" and not node.level
        for alias in node.names
        if alias.name in public
    ]
    assert borrowed == [], "\n".join(borrowed)
