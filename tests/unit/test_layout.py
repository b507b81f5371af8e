"""The package layout: stages as subpackages in layers that import only downward, small modules.

docs/design.md opens with the map; this test keeps the tree honest as it grows.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "deepvalue"
# a subpackage may import its own modules and those of lower layers only
LAYERS = {
    "core": 0,
    "questionnaires": 0.5,
    "extract": 1,
    "synth": 1,
    "cohort": 2,
    "adjust": 3,
    "effects": 4,
    "robustness": 5,
    "value": 5,
    "publish": 6,
    "simulate": 7,
    "pipeline": 8,
}
MAX_LINES = 700
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_subpackages(path: Path) -> set[str]:
    """deepvalue subpackages a module imports anywhere in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "deepvalue" and len(parts) > 1:
                found.add(parts[1])
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import; use deepvalue.<subpackage>.<module>")
    return found


def test_every_subpackage_has_a_layer_and_says_what_it_holds():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(LAYERS)
    for name in subpackages:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and "Layer" in doc or "Beside" in doc or "Top layer" in doc, name


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_from_a_higher_layer(path):
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) == 1:  # cli.py and __init__.py sit on top
        return
    own = rel.parts[0]
    for other in imported_subpackages(path) - {own}:
        assert LAYERS[other] < LAYERS[own], f"{rel} imports deepvalue.{other} (layer {LAYERS[other]} >= {LAYERS[own]})"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES, path.relative_to(PACKAGE)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from deepvalue.publish.report import build_report\n")
    assert "publish" in imported_subpackages(bad)
