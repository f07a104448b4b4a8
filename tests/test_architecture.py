"""The package's imports run one way (helpers → models → weights → inference → outputs → tools → app/cli) and
form no cycle, counting imports inside functions too: a function-level import may keep start-up fast,
but never hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "depth_anything"

# Lower numbers are lower layers; a module may import its own layer or below, never above.
LAYERS = {
    "errors": 0, "runtime": 0, "typed_config": 0, "lazy": 0,
    "io": 1,
    "pictures": 2, "transforms": 2, "geometry": 2, "alignment": 2, "metadata": 2, "normals": 2, "mesh": 2, "camera": 2,
    "models": 3, "data": 3,
    "weights": 4,
    "inference": 5,
    "outputs": 6, "depth_files": 6,
    "eval": 7, "train": 7, "export": 7,
    "loading": 8,  # open_predictor: may compile a checkpoint (export) for the runtime it opens
    "app": 9, "serve": 9, "cli": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every depth_anything module `path` imports, at module level or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "depth_anything")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "depth_anything":
                continue
            found.add(target)
            for alias in node.names:  # `from . import io` names a module
                candidate = f"{target}.{alias.name}"
                if (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*candidate.split("."))
                ).is_dir():
                    found.add(candidate)
    found.discard(name)
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[module_name(path)] = imported_modules(path)
    return graph


def test_every_subpackage_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.name != "__init__.py"}
    assert sorted(tops - set(LAYERS)) == [], "add the new module to LAYERS in tests/test_architecture.py"


def test_no_upward_import():
    upward = []
    for source, targets in import_graph().items():
        source_layer = layer(source)
        if source_layer is None:  # the package root: the lazy public API may name anything
            continue
        for target in sorted(targets):
            target_layer = layer(target)
            if target == "depth_anything":
                upward.append(f"{source} imports the package root (import the module itself)")
            elif target_layer is not None and target_layer > source_layer:
                upward.append(f"{source} (layer {source_layer}) imports {target} (layer {target_layer})")
    assert upward == []


def test_no_import_cycle():
    graph = {m: {t for t in targets if t in import_graph_names()} for m, targets in import_graph().items()}
    # a package's __init__ importing its own submodules is the usual re-export, and submodules importing
    # a sibling through the package is fine as long as modules themselves form no cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 and not _is_reexport(component, graph):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def import_graph_names() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


def _is_reexport(component: list[str], graph: dict[str, set[str]]) -> bool:
    """A cycle made only of a package `__init__` and its submodules importing names from it through
    the package (e.g. `from . import x` inside `pkg/y.py`) is not a layering cycle when removing the
    package node breaks it."""
    packages = [m for m in component if any(o.startswith(m + ".") for o in component)]
    if not packages:
        return False
    rest = {m: graph[m] - set(packages) for m in component if m not in packages}
    seen: set[str] = set()

    def has_cycle(node: str, path: set[str]) -> bool:
        if node in path:
            return True
        if node in seen:
            return False
        seen.add(node)
        return any(has_cycle(n, path | {node}) for n in rest.get(node, ()) if n in rest)

    return not any(has_cycle(m, set()) for m in rest)


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The rules above would catch the cycle this restructuring removed (models ↔ weights)."""
    fake = tmp_path / "depth_anything"
    (fake / "models").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "models" / "__init__.py").write_text("")
    (fake / "models" / "net.py").write_text("def f():\n    from ..weights import check\n")
    (fake / "weights.py").write_text("from .models.net import f\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(AssertionError, match="models.net"):
        test_no_upward_import()
    with pytest.raises(AssertionError, match="weights"):
        test_no_import_cycle()
