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


@pytest.mark.parametrize("before", [True, False], ids=["before serve", "after serve"])
def test_the_shared_flags_work_before_and_after_serve(tmp_path, before):
    shared = ["--kube-in-cluster", "--rate-limit", "get=5/60"]
    argv = ["keyservice", "--data-dir", str(tmp_path), *(shared if before else []), "serve",
            *([] if before else shared)]
    settings = settings_from(build_parser().parse_args(argv))
    assert settings.token_review is not None and settings.token_review.api_url is None
    assert (settings.rate_limits.get.limit, settings.rate_limits.get.window_s) == (5, 60)


def test_a_shared_flag_before_serve_is_not_erased_by_serve():
    args = build_parser().parse_args(["keyservice", "--data-dir", "/d", "--redis-url", "redis://r:6379/0", "serve"])
    assert args.redis_url == "redis://r:6379/0" and args.kube_in_cluster is None
