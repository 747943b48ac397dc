"""App code names a stage through models_app.vocabulary.Stage, never as a bare string.

An AST scan: a string constant equal to a Stage value, compared (``==``, ``in (...)``) or
passed as ``stage=``, outside the vocabulary modules, migrations and tests."""

from __future__ import annotations

import ast
from pathlib import Path

from models_app.vocabulary import Stage

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["models_app", "experiments_app", "abtest_app", "serving_app", "mlflow_app",
            "axion_registry", "axion_client", "dashboard", "demo"]
STAGES = set(Stage.values)


def _stage_constants(node: ast.AST) -> list[ast.Constant]:
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [item for item in items
            if isinstance(item, ast.Constant) and item.value in STAGES]


def _bare_stages(tree: ast.AST) -> list[ast.Constant]:
    found: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                found += _stage_constants(side)
        elif isinstance(node, ast.keyword) and node.arg == "stage":
            found += _stage_constants(node.value)
    return found


def _app_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"tests", "migrations"} or path.name == "vocabulary.py":
                continue
            files.append(path)
    return files


def test_app_code_names_stages_by_the_enum():
    offenders = [
        f"{path.relative_to(ROOT)}:{const.lineno} {const.value!r}"
        for path in _app_files()
        for const in _bare_stages(ast.parse(path.read_text(), filename=str(path)))
    ]
    assert not offenders, "use models_app.vocabulary.Stage: " + ", ".join(offenders)


def test_the_scan_sees_a_bare_stage():
    tree = ast.parse('x == "production"\nf(stage="draft")\ny in ("staging", Stage.DRAFT)')
    assert sorted(c.value for c in _bare_stages(tree)) == ["draft", "production", "staging"]
