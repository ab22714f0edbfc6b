"""`cifer keyservice` arguments that become settings."""

from __future__ import annotations

import pytest

from cifer.cli import build_parser
from cifer_keyservice.cli import settings_from

OPERATOR = "system:serviceaccount:cifer-system:cifer-operator"


def test_admin_principal_is_repeatable_and_becomes_the_setting(tmp_path):
    args = build_parser().parse_args(["keyservice", "--data-dir", str(tmp_path), "serve",
                                      "--admin-principal", OPERATOR, "--admin-principal", "usr_root"])
    assert settings_from(args).admin_principals == frozenset({OPERATOR, "usr_root"})
    plain = build_parser().parse_args(["keyservice", "--data-dir", str(tmp_path), "serve"])
    assert settings_from(plain).admin_principals == frozenset()


@pytest.mark.parametrize("name", ["", " padded", "x" * 256, "line\nbreak"])
def test_a_name_that_is_no_principal_is_a_usage_error(tmp_path, name, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["keyservice", "--data-dir", str(tmp_path), "serve", "--admin-principal", name])
    assert exited.value.code == 2
    assert "--admin-principal" in capsys.readouterr().err
