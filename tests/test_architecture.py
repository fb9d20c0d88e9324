"""The package's import graph has no cycles (beyond the known ones being removed)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "dataflows_factory"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Cycles accepted for now, each as reported (the path from its smallest module): none.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name; folders without ``__init__.py`` are not modules."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        folders = path.relative_to(ROOT.parent).parent.parts
        if all((ROOT.parent.joinpath(*folders[:depth]) / "__init__.py").exists()
               for depth in range(1, len(folders) + 1)):
            parts = (*folders, path.stem) if path.stem != "__init__" else folders
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (functions too), except under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for other in node.orelse:
                yield from _imports(other)
        else:
            yield from _imports(node)


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom,
             modules: dict[str, Path]) -> set[str]:
    """The package modules one import statement makes Python import, without their packages."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    # `from package import name` imports the submodule package.name when there is one.
    return {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the package, from the source, importing nothing.

    The rule: an edge is an import statement anywhere in the module (module level, or deferred
    inside a function), except under ``if TYPE_CHECKING:``, which never runs. Importing
    ``a.b.c`` also runs the ``__init__`` of ``a.b``, so the edge goes to each package of the
    target that does not contain the importer too (the importer's own packages are already
    running). A package's lazy exports (the
    ``_lazy.lazy_exports`` table of names to submodules) are strings, not imports: they make no
    edge, so an ``__init__`` that only re-exports lazily depends on nothing but ``_lazy``.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        own = {".".join(module.split(".")[:depth]) for depth in range(1, module.count(".") + 2)}
        if not is_package:
            own.discard(module)
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(module, is_package, node, modules) & modules.keys():
                parts = target.split(".")
                edges |= {target} | {name for depth in range(1, len(parts))
                                     if (name := ".".join(parts[:depth])) not in own}
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Every elementary cycle, as the path of modules from its smallest one (a depth-first search)."""
    cycles: set[tuple[str, ...]] = set()
    for start in sorted(graph):
        # Only cycles whose smallest module is `start`: each cycle is found once.
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.add(tuple(path))
                elif nxt > start and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return cycles


def test_cycles_are_found_with_their_path() -> None:
    """A cycle is reported once, as its path from its smallest module; edges into it are not cycles."""
    graph = {"c": {"a"}, "a": {"b"}, "b": {"c", "d"}, "d": set(), "e": {"a", "e"}}
    assert find_cycles(graph) == {("a", "b", "c"), ("e",)}


def test_the_graph_sees_deferred_imports_and_skips_type_checking_ones() -> None:
    """The graph has the edges the rule promises, so a cycle cannot hide from it."""
    graph = import_graph()
    assert "dataflows_factory._naming" in graph["dataflows_factory.partitions"]
    # prefect_blocks.blocks imports flows inside DataflowsFactory.run; flows imports blocks
    # only for type checking.
    assert "dataflows_factory.prefect_blocks.flows" in graph["dataflows_factory.prefect_blocks.blocks"]
    assert "dataflows_factory.prefect_blocks.blocks" not in graph["dataflows_factory.prefect_blocks.flows"]
    # airflow_provider/__init__ exports task_id_for lazily: no edge to _ids.
    assert "dataflows_factory.airflow_provider._ids" not in graph["dataflows_factory.airflow_provider"]


def test_no_new_import_cycles() -> None:
    """No cycle among dataflows_factory modules other than the known ones being removed."""
    cycles = find_cycles(import_graph())
    new = sorted(cycles - KNOWN_CYCLES)
    assert not new, "import cycles:\n" + "\n".join(" -> ".join((*cycle, cycle[0])) for cycle in new)
