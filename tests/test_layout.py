"""The package's shape, read from its imports: no circle, each folder imports only the layers
below it, views and commands never import each other, no module past ~400 lines.

README's "Layout" section is the table below in words. A new import that breaks a rule fails
here with the file and the import, so the shape is kept by the suite, not by memory.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arena import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "arena"
MAX_LINES = 400

#: Each part of the package (a top-level module or folder) -> the parts it may import.
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "filelocks": set(),
    "extensions": set(),
    "rendering": set(),
    "backends": {"filelocks"},
    "ratings": set(),
    "database": {"extensions"},
    "models": {"extensions"},
    "play": {"extensions", "models", "rendering", "backends", "ratings"},
    "leaderboard": {"extensions", "database", "filelocks", "models", "ratings", "play"},
    "pregen": {"extensions", "database", "models", "rendering", "backends", "ratings", "play"},
    "judging": {
        "extensions", "database", "filelocks", "models", "backends", "ratings", "play",
        "leaderboard", "pregen",
    },
    "ops": {
        "extensions", "database", "filelocks", "models", "rendering", "backends", "ratings",
        "play", "leaderboard", "pregen", "judging",
    },
    "web": {
        "extensions", "rendering", "backends", "play", "leaderboard", "pregen", "judging", "ops",
    },
    "cli": {
        "extensions", "database", "backends", "play", "leaderboard", "pregen", "judging", "ops",
    },
    "migrations": {"database"},
}  # fmt: skip
#: Modules of ``web`` and ``cli`` that others of their folder may import (shared helpers);
#: the rest are blueprints and commands, which never import one another.
SHARED_HELPERS = {
    "web": {"session", "params", "errors", "security", "limits", "limit_storage", "assets"},
    "cli": {"common", "progress"},
}


@dataclass(frozen=True)
class Import:
    source: str  # dotted module name, e.g. "arena.web.battle"
    target: str  # dotted name of the arena module (or package) imported
    line: int
    top_level: bool  # at module level (runs on import), not inside a function


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "versions" not in p.parts)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(path: Path) -> Iterator[Import]:
    """Every import of an ``arena`` module in ``path``, with whether it runs at import time."""
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Try):
            top.update(id(n) for n in node.body)
        top.add(id(node))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path.name == "__init__.py", node.level, node.module)
            targets = [base] if node.module else []
            # `from arena import web` or `from arena.play import battles` name modules too.
            targets += [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target == "arena" or target.startswith("arena."):
                yield Import(module, target, node.lineno, id(node) in top)


def known_module(target: str, modules: set[str]) -> str | None:
    """The module ``target`` names (``arena.models.Vote`` -> ``arena.models``), if any."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def part_of(module: str) -> str:
    """``arena.web.battle`` -> ``web``; ``arena`` (the factory) -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    files = source_files()
    modules = {module_name(p) for p in files}
    found = []
    for path in files:
        for imp in imports_of(path):
            target = known_module(imp.target, modules)
            if target and target != imp.source and target != "arena":
                found.append(Import(imp.source, target, imp.line, imp.top_level))
    return found


def test_every_part_of_the_package_is_in_the_table() -> None:
    parts = {part_of(module_name(p)) for p in source_files()} - {"__init__"}
    assert parts == set(ALLOWED), "add the new folder to ALLOWED (and to README's Layout)"


def test_each_part_imports_only_the_layers_below_it(graph: list[Import]) -> None:
    wrong = [
        f"{imp.source} (line {imp.line}) imports {imp.target}"
        for imp in graph
        if part_of(imp.source) != "__init__"
        and part_of(imp.target) != part_of(imp.source)
        and part_of(imp.target) not in ALLOWED[part_of(imp.source)]
    ]
    assert wrong == []


def test_blueprints_and_commands_never_import_one_another(graph: list[Import]) -> None:
    wrong = []
    for imp in graph:
        folder = part_of(imp.source)
        if folder not in SHARED_HELPERS or part_of(imp.target) != folder:
            continue
        name = imp.target.split(".")[2] if imp.target.count(".") >= 2 else ""
        if name and name not in SHARED_HELPERS[folder] and imp.source != f"arena.{folder}":
            wrong.append(f"{imp.source} (line {imp.line}) imports {imp.target}")
    assert wrong == []


def test_no_import_circle(graph: list[Import]) -> None:
    edges: dict[str, set[str]] = {}
    for imp in graph:
        # A package importing its own submodules, or a submodule its package, is how
        # packages are built, not a circle between modules.
        inside = imp.target.startswith(imp.source + ".") or imp.source.startswith(imp.target + ".")
        if imp.top_level and not inside:
            edges.setdefault(imp.source, set()).add(imp.target)
    circles = _strongly_connected(edges)
    assert circles == []


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _strongly_connected(edges) == [["a", "b", "c"]]


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(PROJECT_ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in source_files()
    }
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def test_the_rules_read_real_imports() -> None:
    """The reader sees imports at module level, inside functions and relative ones."""
    battle = {(imp.target, imp.top_level) for imp in imports_of(PACKAGE / "web" / "battle.py")}
    assert ("arena.play.battles", True) in battle
    factory = {imp.target for imp in imports_of(PACKAGE / "__init__.py") if not imp.top_level}
    assert "arena.web" in factory
