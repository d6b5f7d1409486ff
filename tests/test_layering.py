"""Imports flow one way: algorhythms_assets -> algorhythms_ml; serving imports neither.

algorhythms_store (the published database, the contract between pipeline and service) is
imported by both sides and imports neither of them, nor any heavy engine.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "algorhythms_ml": {
        "dagster",
        "dagster_pyspark",
        "algorhythms_assets",
        "serving",
        "algorhythms_cli",
    },
    "algorhythms_assets": {"serving", "algorhythms_cli"},
    "serving": {
        "algorhythms_ml",
        "algorhythms_assets",
        "algorhythms_cli",
        "dagster",
        "pyspark",
        "torch",
        "torch_geometric",
    },
    "algorhythms_store": {
        "algorhythms_ml",
        "algorhythms_assets",
        "algorhythms_cli",
        "serving",
        "dagster",
        "pyspark",
        "torch",
        "torch_geometric",
    },
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package):
    files = list((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_modules(f) & FORBIDDEN[package]) for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_within(path: Path, package: str, modules: set[str], root: Path = ROOT) -> set[str]:
    """The modules of `package` that `path` imports, at module level or inside a function."""
    here = module_name(path, root)
    base = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            prefix = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join(prefix + ([node.module] if node.module else []))
            # `from pkg import module` imports a module; `from module import name` its module.
            targets = [f"{module}.{a.name}" for a in node.names] + [module]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != here and target.split(".")[0] == package:
                found.add(target)
    return found


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as the modules along it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph[node]):
            cycle = visit(nxt)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    return next((c for c in map(visit, sorted(graph)) if c), None)


def test_import_cycle_finder_sees_function_level_imports(tmp_path):
    graph = {"p.a": {"p.b"}, "p.b": {"p.a"}, "p.c": {"p.a"}}
    assert import_cycle(graph) == ["p.a", "p.b", "p.a"]
    assert import_cycle({"p.a": {"p.b"}, "p.b": set()}) is None
    (tmp_path / "p").mkdir()
    source = "import os\n\n\ndef f():\n    from .a import thing\n    from p import c\n"
    (tmp_path / "p" / "b.py").write_text(source)
    modules = {"p.a", "p.b", "p.c"}
    assert imports_within(tmp_path / "p" / "b.py", "p", modules, tmp_path) == {"p.a", "p.c"}


PACKAGES = sorted({*FORBIDDEN, "algorhythms_cli"})


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_within_a_package(package):
    files = list((ROOT / package).rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph = {module_name(f): imports_within(f, package, modules) for f in files}
    assert import_cycle(graph) is None
