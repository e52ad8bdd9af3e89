"""The package's shape: imports point down the layers, no cycles, no private names
borrowed across modules, no module too long to read (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import likeness

PACKAGE = Path(likeness.__file__).parent
# lower layers never import higher ones; the public API (likeness/__init__) sits on top
# (the environment switches and the API's argument checks raise likeness's errors, and
# every layer above reads them)
LAYERS = {"_version": 0, "errors": 0, "wording": 0, "documents": 0, "switches": 0.5,
          "arguments": 0.5, "io": 1, "metrics": 1, "nets": 2, "evaluation": 3, "results": 4,
          "runs": 5, "study": 5, "cli": 6, "": 7, "__main__": 7}
# inside evaluation/, the sub-packages are layers of their own
SUBLAYERS = {"evaluation": {"": 0, "infra": 1, "items": 2, "catalog": 3, "sets": 4,
                            "engines": 5}}
# orchestration folders: no more modules side by side than a reader can tell apart
# (metrics/ and nets/ keep one module per metric or network)
ORCHESTRATION = ("evaluation", "results", "runs", "study", "cli", "io")
MAX_MODULES = 12
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _sublayer(module: str) -> str | None:
    """The sub-package of a layer that has them (None for other layers): "" for the
    layer's own modules."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in SUBLAYERS:
        return None
    inner = parts[2] if len(parts) > 3 or (len(parts) == 3 and MODULES[module].name
                                            == "__init__.py") else ""
    return inner if inner in SUBLAYERS[parts[1]] else ""


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in ``module``,
    at any depth (a lazy import inside a function is still an import)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    found.append((submodule, None, node.lineno))
                else:
                    found.append((base, alias.name, node.lineno))
    return [(target, name, line) for target, name, line in found
            if target == "likeness" or target.startswith("likeness.")]


def _graph() -> dict[str, set[str]]:
    """Every import, type-only ones included: a cycle through ``TYPE_CHECKING`` is still
    a cycle for a reader (and for a type checker)."""
    return {module: {target for target, _, _ in _imports(module)
                     if target in MODULES and target != module}
            for module in MODULES}


def test_every_import_names_a_module_of_the_package():
    for module in MODULES:
        for target, _, line in _imports(module):
            assert target in MODULES, f"{module}:{line} imports {target}, which does not exist"


def test_the_import_graph_has_no_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_no_module_imports_another_modules_private_names():
    for module in MODULES:
        for target, name, line in _imports(module):
            private_module = next((part for part in target.split(".") if part.startswith("_")
                                   and not part.startswith("__")), None)
            if private_module is not None:
                owner = target.rpartition(".")[0]
                assert module == owner or module.startswith(owner + "."), (
                    f"{module}:{line} imports {target}, private to {owner}")
            if name is not None and name.startswith("_") and not name.startswith("__"):
                pytest.fail(f"{module}:{line} imports {name}, private to {target}")


def test_imports_point_down_the_layers():
    for module in MODULES:
        here = _layer(module)
        for target, _, line in _imports(module):
            there = _layer(target)
            if there == here:
                continue
            assert LAYERS[there] < LAYERS[here], (
                f"{module}:{line} imports {target}: {here or 'likeness'} (layer "
                f"{LAYERS[here]}) may not depend on {there} (layer {LAYERS[there]})")


def test_imports_point_down_the_sub_packages():
    for module in MODULES:
        inner = _sublayer(module)
        if inner is None:
            continue
        order = SUBLAYERS[_layer(module)]
        for target, _, line in _imports(module):
            if _layer(target) != _layer(module) or _sublayer(target) == inner:
                continue
            there = _sublayer(target)
            assert there is not None
            assert order[there] < order[inner], (
                f"{module}:{line} imports {target}: {_layer(module)}/{inner or '.'} may not "
                f"depend on {_layer(module)}/{there or '.'}")


def test_sub_packages_are_the_declared_ones():
    for layer, order in SUBLAYERS.items():
        found = {path.name for path in (PACKAGE / layer).iterdir()
                 if (path / "__init__.py").is_file()}
        assert found == set(order) - {""}, f"{layer}/ has sub-packages {sorted(found)}"


def test_no_orchestration_folder_holds_more_modules_than_a_reader_can_tell_apart():
    for layer in ORCHESTRATION:
        for folder in [PACKAGE / layer, *(p for p in (PACKAGE / layer).rglob("*")
                                          if (p / "__init__.py").is_file())]:
            modules = [p.name for p in folder.glob("*.py") if p.name != "__init__.py"]
            assert len(modules) <= MAX_MODULES, (
                f"{folder.relative_to(PACKAGE)} holds {len(modules)} modules: split it by "
                "concern")


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {module: len(path.read_text(encoding="utf-8").splitlines())
            for module, path in MODULES.items()}
    assert {m: n for m, n in long.items() if n > MAX_LINES} == {}
