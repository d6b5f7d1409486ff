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
