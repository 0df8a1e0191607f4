"""The project's import graph points down: CLI > training > serving > core, and the core has no cycles.

Every ``import`` of every module under ``zoo/``, ``training/`` and ``serving/`` (installed as ``zoo.training``
and ``zoo.serving``) is read with :mod:`ast`, those inside functions included (a lazy import is still an arrow).
The core is cut into units: a top-level module (``zoo.registry``) or a subpackage
(``zoo.presets``), and ``zoo`` itself (its ``__init__``, the public facade); no two units
may import each other, directly or through others.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"zoo": "zoo", "training": "zoo.training", "serving": "zoo.serving"}
"""The repository's package folders and the import names they install as (pyproject's package-dir)."""
LAYERS = {"zoo.training": "training", "zoo.serving": "serving"}

#: The command line, zoo/cli/ (one module per command group): the top layer (above training and serving), so
#: its imports of training/ and serving/ point down; a core module importing it is an upward arrow.
APPLICATIONS = ("zoo.cli",)

#: Upward arrows still there, each (importing module, imported layer), with why and who removes it.
#: None remain; the test fails when one listed here is no longer needed, so this set only shrinks.
TEMPORARY_EXCEPTIONS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    folder, *parts = path.relative_to(ROOT).with_suffix("").parts
    parts = [FOLDERS[folder], *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """``(imported project module, line)`` for every import in the file, nested ones included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from zoo import presets` imports the module zoo.presets
                child = f"{base}.{alias.name}"
                found.append((child if child in modules else base, node.lineno))
    return [(m, line) for m, line in found if m.split(".")[0] == "zoo"]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str) -> str:
    for package, layer in LAYERS.items():
        if _within(module, package):
            return layer
    return "application" if any(_within(module, a) for a in APPLICATIONS) else "core"


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


#: Which layers each layer may import.
ALLOWED = {
    "core": {"core"},
    "serving": {"core", "serving"},
    "training": {"core", "serving", "training"},
    "application": {"core", "application", "serving", "training"},
}


def _arrows():
    modules = _modules()
    return [
        (source, target, line, modules[source])
        for source, path in modules.items()
        for target, line in _imports(source, path, modules)
    ]


def test_every_import_points_down():
    upward, used = [], set()
    for source, target, line, path in _arrows():
        if _layer(target) in ALLOWED[_layer(source)]:
            continue
        key = (source, _layer(target))
        key = key if key in TEMPORARY_EXCEPTIONS else None
        if key is not None:
            used.add(key)
            continue
        upward.append(
            f"{path.relative_to(ROOT)}:{line}: {source} ({_layer(source)}) imports {target} ({_layer(target)})"
        )
    assert not upward, "Upward imports (CLI > training > serving > core):\n" + "\n".join(upward)
    stale = TEMPORARY_EXCEPTIONS - used
    assert not stale, f"These exceptions are no longer needed; remove them from TEMPORARY_EXCEPTIONS: {sorted(stale)}"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index, low, stack, on_stack, components, counter = {}, {}, [], set(), [], itertools.count()

    def visit(node):
        index[node] = low[node] = next(counter)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def test_the_core_has_no_cycles():
    edges, where = defaultdict(set), defaultdict(list)
    for source, target, line, path in _arrows():
        if _layer(source) != "core" or _layer(target) != "core":
            continue
        a, b = _unit(source), _unit(target)
        if a != b:
            edges[a].add(b)
            edges[b]
            where[a, b].append(f"{path.relative_to(ROOT)}:{line}")
    cycles = _cycles(edges)
    report = [
        f"{' <-> '.join(c)}: "
        + "; ".join(f"{a} -> {b} ({', '.join(where[a, b])})" for a in c for b in c if b in edges[a])
        for c in cycles
    ]
    assert not cycles, "Import cycles between the core's units:\n" + "\n".join(report)


def test_the_checker_sees_nested_and_relative_imports(tmp_path):
    """The parser finds imports inside functions and resolves ``from . import x``, or the tests above prove nothing."""
    module = tmp_path / "zoo" / "presets" / "example.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from zoo.registry import get_entry\n    from . import store\n")
    known = {"zoo.presets.store": module, "zoo.registry": module}
    global ROOT
    root, ROOT = ROOT, tmp_path
    try:
        assert _imports("zoo.presets.example", module, known) == [("zoo.registry", 2), ("zoo.presets.store", 3)]
    finally:
        ROOT = root
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
