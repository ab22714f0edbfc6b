"""The layout rules of ARCHITECTURE.md, checked on the source tree: the core imports no part, no
part imports another, and only the composition root of `cifer dev` imports two parts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each deployable part: its top-level folder and its package one level down.
PARTS = {
    "cifer_proxy": ROOT / "proxy" / "cifer_proxy",
    "cifer_keyservice": ROOT / "keyservice" / "cifer_keyservice",
    "cifer_operator": ROOT / "operator" / "cifer_operator",
    "cifer_inference": ROOT / "inference" / "cifer_inference",
}
COMPOSITION_ROOT = ("cifer_dev", ROOT / "dev" / "cifer_dev")


def imported_top_levels(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def imports_of(package: Path) -> dict[str, set[str]]:
    return {str(path.relative_to(ROOT)): imported_top_levels(path) for path in package.rglob("*.py")}


def test_every_part_is_where_the_layout_says():
    for package in [*PARTS.values(), COMPOSITION_ROOT[1]]:
        assert (package / "__init__.py").is_file(), package


def test_the_core_imports_no_part_and_not_the_composition_root():
    forbidden = set(PARTS) | {COMPOSITION_ROOT[0]}
    offenders = {path: sorted(names & forbidden) for path, names in imports_of(ROOT / "cifer").items()
                 if names & forbidden}
    assert offenders == {}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_a_part_imports_no_other_part(part):
    others = (set(PARTS) - {part}) | {COMPOSITION_ROOT[0]}
    offenders = {path: sorted(names & others) for path, names in imports_of(PARTS[part]).items() if names & others}
    assert offenders == {}


def test_only_the_composition_root_imports_two_parts():
    name, package = COMPOSITION_ROOT
    used = set().union(*imports_of(package).values()) & set(PARTS)
    assert used == {"cifer_keyservice", "cifer_proxy"}, used


def test_crypto_primitives_know_nothing_of_http():
    for path in [*(ROOT / "cifer" / "crypto").rglob("*.py"), *(ROOT / "cifer" / "envelope").rglob("*.py")]:
        assert not imported_top_levels(path) & {"aiohttp", "sqlalchemy", *PARTS}, path


def test_there_is_no_top_level_operator_package():
    assert not (ROOT / "operator" / "__init__.py").exists()
