"""cifer.settings: a setting declared once on its field gives the flag, the environment
fallback, the help, and the arguments that give the same settings back."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from cifer.settings import (
    SettingsError,
    add_flags,
    declared,
    docstrings,
    from_arguments,
    limit_overrides,
    setting,
    to_arguments,
    to_environment,
)


@dataclasses.dataclass(frozen=True)
class Window:
    limit: int
    window_s: int


@dataclasses.dataclass(frozen=True)
class Limits:
    read: Window = Window(10, 60)
    write: Window = Window(1, 60)


@dataclasses.dataclass(frozen=True)
class Upstream:
    url: str = setting("--upstream-url")
    """Where the upstream listens."""
    timeout_s: float = setting("--upstream-timeout", default=1.5, metavar="SECONDS")
    """Longest wait for the upstream."""


@dataclasses.dataclass(frozen=True)
class Toy:
    url: str = setting("--url", env="TOY_URL")
    """Where it goes."""
    port: int = setting("--port", default=8080)
    """The port applications call."""
    workers: int = setting("--workers", env="TOY_WORKERS", default=1)
    """Threads."""
    token_file: Path | None = setting("--token-file", default=None)
    """A token, reread on every use."""
    ttl_s: float = setting("--ttl", default=60.0, metavar="SECONDS", help="kept this long, 80% of it fresh")
    verbose: bool = setting("--verbose", default=False)
    """Say more."""
    warm: tuple[str, ...] = setting("--warm", default=(), metavar="ID")
    """Fetched at start."""
    admins: frozenset[str] = setting("--admin", default=frozenset())
    """Never limited."""
    secret: str | None = setting(None, env="TOY_SECRET", default=None, repr=False)
    """From the environment only."""
    peering: str | None = setting("--peering", default="toys", none_flag="--standalone", none_help="no peering")
    """Shared by replicas; None: standalone."""
    limits: Limits = setting("--limit", default=Limits(), **limit_overrides(Limits, Window))
    """Per category."""
    upstream: Upstream | None = None
    """Nested settings, present once one of their flags is given."""
    plain: int = 3
    """No flag: the command line leaves it alone."""


EVERYTHING = Toy(url="http://a", port=9090, workers=4, token_file=Path("/run/token"), ttl_s=2.5, verbose=True,
                 warm=("ck_b", "ck_a"), admins=frozenset({"x", "y"}), secret="s3cret", peering=None,
                 limits=Limits(read=Window(5, 30)), upstream=Upstream("http://up", timeout_s=9.0))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("TOY_URL", "TOY_WORKERS", "TOY_SECRET"):
        monkeypatch.delenv(name, raising=False)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toy", exit_on_error=False)
    add_flags(parser, Toy)
    add_flags(parser.add_argument_group("upstream"), Upstream)
    return parser


def parse(*words: str) -> Toy:
    return from_arguments(Toy, parser().parse_args(list(words)))


def test_flags_parse_to_the_fields_types():
    toy = parse("--url", "http://a", "--port", "9090", "--token-file", "/run/token", "--ttl", "2.5", "--verbose",
                "--warm", "ck_b", "--warm", "ck_a", "--admin", "x", "--admin", "x")
    assert toy == Toy(url="http://a", port=9090, token_file=Path("/run/token"), ttl_s=2.5, verbose=True,
                      warm=("ck_b", "ck_a"), admins=frozenset({"x"}))


def test_an_unset_flag_falls_back_to_its_environment_variable_then_to_the_default(monkeypatch):
    monkeypatch.setenv("TOY_URL", "http://from-env")
    assert parse() == Toy(url="http://from-env")
    assert parse("--url", "http://flag").url == "http://flag"
    monkeypatch.setenv("TOY_WORKERS", "7")
    monkeypatch.setenv("TOY_SECRET", "s")
    assert (parse().workers, parse().secret) == (7, "s")


def test_an_empty_environment_variable_counts_as_unset(monkeypatch):
    monkeypatch.setenv("TOY_URL", "http://a")
    monkeypatch.setenv("TOY_WORKERS", "")
    assert parse().workers == 1


def test_a_missing_required_setting_names_its_flag_and_variable():
    with pytest.raises(SettingsError, match=r"--url or \$TOY_URL"):
        parse()


def test_an_environment_value_of_the_wrong_type_names_the_variable(monkeypatch):
    monkeypatch.setenv("TOY_URL", "http://a")
    monkeypatch.setenv("TOY_WORKERS", "many")
    with pytest.raises(SettingsError, match=r"\$TOY_WORKERS"):
        parse()


def test_the_none_flag_sets_none_and_excludes_the_flag():
    assert parse("--url", "u", "--standalone").peering is None
    assert parse("--url", "u", "--peering", "other").peering == "other"
    with pytest.raises(argparse.ArgumentError, match="not allowed with"):
        parse("--url", "u", "--standalone", "--peering", "other")


def test_rate_limit_overrides_replace_one_category_each():
    assert parse("--url", "u", "--limit", "read=5/30").limits == Limits(read=Window(5, 30))
    with pytest.raises(argparse.ArgumentError, match="CATEGORY=LIMIT/WINDOW_S"):
        parser().parse_args(["--limit", "delete=5/30"])
    with pytest.raises(argparse.ArgumentError):
        parser().parse_args(["--limit", "read=0/30"])


def test_nested_settings_are_present_only_once_one_of_their_flags_is_given():
    assert parse("--url", "u").upstream is None
    assert parse("--url", "u", "--upstream-url", "http://up").upstream == Upstream("http://up")
    with pytest.raises(SettingsError, match="--upstream-url"):
        parse("--url", "u", "--upstream-timeout", "3")


def test_help_is_the_fields_docstring_or_its_help_with_the_default():
    text = " ".join(parser().format_help().split())
    assert "--port PORT The port applications call. (default 8080)" in text
    assert "--ttl SECONDS kept this long, 80% of it fresh (default 60.0)" in text
    assert "--url URL Where it goes. (default $TOY_URL)" in text
    assert "--warm ID Fetched at start. (repeatable)" in text
    assert docstrings(Toy)["plain"] == "No flag: the command line leaves it alone."


def test_given_fields_and_command_defaults_stand_in_for_the_fields_own():
    args = parser().parse_args(["--url", "u"])
    assert from_arguments(Toy, args, defaults={"port": 1, "plain": 4}) == Toy(url="u", port=1, plain=4)
    assert from_arguments(Toy, parser().parse_args(["--url", "u", "--port", "2"]), defaults={"port": 1}).port == 2
    assert from_arguments(Toy, args, url="given").url == "given"


def test_only_reads_the_named_fields_and_ignores_the_environment_of_the_others(monkeypatch):
    monkeypatch.setenv("TOY_SECRET", "s")
    toy = from_arguments(Toy, parser().parse_args(["--port", "2", "--workers", "3"]), only=("port",), url="u")
    assert (toy.port, toy.workers, toy.secret) == (2, 1, None)


def test_to_arguments_parsed_back_gives_the_same_settings(monkeypatch):
    left_out = ("secret",)
    for name, value in to_environment(EVERYTHING, left_out).items():
        monkeypatch.setenv(name, value)
    words = to_arguments(EVERYTHING, leave_out=left_out)
    assert parse(*words) == EVERYTHING


def test_to_arguments_gives_only_what_differs_from_the_defaults_in_field_order():
    assert to_arguments(Toy(url="u")) == ["--url", "u"]
    assert to_arguments(Toy(url="u", warm=("b", "a"), port=1)) == ["--url", "u", "--port", "1",
                                                                     "--warm", "b", "--warm", "a"]
    assert to_arguments(Toy(url="u"), always=("port",)) == ["--url", "u", "--port", "8080"]


def test_to_arguments_refuses_what_no_flag_can_say():
    with pytest.raises(ValueError, match=r"TOY_SECRET"):
        to_arguments(Toy(url="u", secret="s"))
    with pytest.raises(ValueError, match="plain"):
        to_arguments(Toy(url="u", plain=4))


def test_declared_lists_nested_settings_too():
    specs = list(declared(Toy))
    assert {"--url", "--limit", "--upstream-url", "--upstream-timeout"} <= {spec.flag for spec in specs}
    assert "--standalone" in {spec.none_flag for spec in specs}
    assert {spec.env for spec in declared(Toy)} >= {"TOY_URL", "TOY_WORKERS", "TOY_SECRET"}
