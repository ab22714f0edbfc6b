"""The layout rules of ARCHITECTURE.md, checked on the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTER = {"cifer_proxy", "cifer_inference", "cifer_keyservice", "cifer_operator"}


def imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_imports_neither_the_proxy_nor_the_operator():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & OUTER)
        for path in (ROOT / "cifer").rglob("*.py")
        if imported_top_levels(path) & OUTER
    }
    assert offenders == {}


def test_crypto_primitives_know_nothing_of_http():
    for path in [*(ROOT / "cifer" / "crypto").rglob("*.py"), *(ROOT / "cifer" / "envelope").rglob("*.py")]:
        assert not imported_top_levels(path) & {"aiohttp", "sqlalchemy", "cifer_proxy"}, path


def test_there_is_no_top_level_operator_package():
    assert not (ROOT / "operator" / "__init__.py").exists()
