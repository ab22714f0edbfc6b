"""The `cifer` command. Subcommands that live outside the core (dev, proxy, keyservice,
operator, inference) register themselves through the `cifer.commands` entry-point group,
so the core never imports the proxy or the operator."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

import cifer
from cifer.exceptions import CoreError

COMMAND_GROUP = "cifer.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cifer", description="Zero-key, post-quantum encryption for Kubernetes.")
    parser.add_argument("--version", action="version", version=f"cifer {cifer.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        entry.load()(commands)  # each adds its parser and sets `func`
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
