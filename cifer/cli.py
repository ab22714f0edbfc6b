"""The `cifer` command. Subcommands that live outside the core (dev, proxy, keyservice,
operator, inference) register themselves through the `cifer.commands` entry-point group,
so the core never imports the proxy or the operator.

Only the subcommand named on the command line is loaded: `cifer proxy` imports the sidecar and
nothing of the key service or the operator. `cifer --help` loads them all to list them; one
whose extra (the `[extra]` of its entry point in pyproject.toml) is not installed is listed as
such and, when run, says so in one line."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import EntryPoint, distribution

import cifer
from cifer import extras
from cifer.exceptions import CoreError

COMMAND_GROUP = "cifer.commands"


def _commands() -> dict[str, EntryPoint]:
    """The `cifer` distribution's own: read from its metadata alone, not from every installed
    distribution's (which costs a sidecar about 2 MiB it keeps for its life)."""
    found = distribution(extras.DISTRIBUTION).entry_points.select(group=COMMAND_GROUP)
    return {entry.name: entry for entry in sorted(found, key=lambda e: e.name)}


def _missing_extra(entry: EntryPoint) -> str | None:
    """The first extra `entry` declares whose distributions are not all installed."""
    return next((extra for extra in entry.extras if extras.missing(extra)), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with `command`'s subcommand only, or with all of them when `command` is None
    or names none. Raises MissingExtra if `command` needs an extra that is not installed."""
    parser = argparse.ArgumentParser(prog="cifer", description="Zero-key, post-quantum encryption for Kubernetes.")
    parser.add_argument("--version", action="version", version=f"cifer {cifer.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = _commands()
    if command in commands:
        commands = {command: commands[command]}
    for name, entry in commands.items():
        extra = _missing_extra(entry)
        if extra is None:
            entry.load()(subparsers)  # each adds its parser and sets `func`
        elif len(commands) == 1:
            raise extras.MissingExtra(f"cifer {name}", extra)
        else:
            subparsers.add_parser(name, help=f"(not installed: {extras.install(extra)})")
    return parser


def _command_named(argv: list[str]) -> str | None:
    """The subcommand `argv` names: its first word that is not an option (`cifer`'s own
    options take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(_command_named(argv))
    except extras.MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CoreError as exc:  # deliberate failures (a refused key file, an HSM outage): one line, no traceback
        print(f"cifer {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
