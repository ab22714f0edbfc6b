"""`cifer keys`: create, read, list, rotate and revoke CIFERs (seed §4.1, §4.2, §4.5, §4.6)."""

from __future__ import annotations

import argparse
import sys

from cifer.api.schemas import MAX_PAGE_LIMIT
from cifer.commands import tables
from cifer.commands.common import EXIT_CODES_EPILOG, EXIT_OK, UsageError, client_from, command, connection_options
from cifer.sdk.models import Cifer



def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to {MAX_PAGE_LIMIT}")
    return value


def _window_days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 365:
        raise argparse.ArgumentTypeError("must be an integer from 0 to 365")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser(
        "keys", help="manage CIFERs: create, get, list, rotate, revoke",
        description="Manage CIFER encryption identities through the sidecar.",
        epilog=EXIT_CODES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = [connection_options(), _output_option()]

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, parents=common, help=help_text, description=help_text + ".",
                                  epilog=EXIT_CODES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)

    create = action("create", "create a CIFER")
    create.add_argument("name", metavar="NAME", help="a human-readable name (up to 255 characters)")
    create.add_argument("--description", default=None, help="what it protects (up to 1000 characters)")
    create.add_argument("--algorithm", default=None, metavar="SUITE",
                        help="ML-KEM-768 (the service's usual default), ML-KEM-1024 or X-Wing")
    create.set_defaults(func=run_create)

    get = action("get", "show one CIFER")
    get.add_argument("cifer_id", metavar="ID")
    get.set_defaults(func=run_get)

    listing = action("list", "list CIFERs, one page at a time")
    listing.add_argument("--status", choices=("active", "revoked"), default=None)
    listing.add_argument("--limit", type=_limit, default=20, help=f"at most this many (1 to {MAX_PAGE_LIMIT}; default 20)")
    listing.add_argument("--cursor", default=None, metavar="ID", help="continue after this id (the previous page's next cursor)")
    listing.set_defaults(func=run_list)

    rotate = action("rotate", "make a new key version; the old one decrypts until the re-encryption deadline")
    rotate.add_argument("cifer_id", metavar="ID")
    rotate.add_argument("--window-days", type=_window_days, default=None, metavar="DAYS",
                        help="days the old version still decrypts (default: the service's)")
    rotate.add_argument("--reason", default=None, help="recorded in the audit log")
    rotate.set_defaults(func=run_rotate)

    revoke = action("revoke", "revoke a CIFER for good: everything encrypted to it becomes unreadable")
    revoke.add_argument("cifer_id", metavar="ID")
    revoke.add_argument("--yes", action="store_true", help="do not ask; required when stdin is not a terminal")
    revoke.set_defaults(func=run_revoke)


def _output_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-o", "--output", choices=tables.FORMATS, default="table",
                        help="table for people (default), json for programs")
    return parent


def _cifer_fields(cifer: Cifer) -> list[tuple[str, object]]:
    stats = cifer.statistics
    pairs = [
        ("ID", cifer.id), ("NAME", cifer.name), ("DESCRIPTION", cifer.description or None),
        ("STATUS", cifer.status), ("KEY VERSION", cifer.key_version), ("ALGORITHM", cifer.key_algorithm),
        ("OWNER", cifer.owner_id), ("CREATED", cifer.created_at), ("UPDATED", cifer.updated_at),
        ("METADATA", cifer.metadata), ("POLICY", cifer.policy),
    ]
    if stats:
        pairs += [("ENCRYPTIONS", stats.get("total_encryptions")), ("DECRYPTIONS", stats.get("total_decryptions")),
                  ("LAST USED", stats.get("last_used_at"))]
    return pairs


def _print(args: argparse.Namespace, raw: dict, text: str) -> None:
    print(tables.as_json(raw) if args.output == "json" else text)


@command("keys create")
def run_create(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        cifer = client.cifers.create(name=args.name, description=args.description, algorithm=args.algorithm)
    _print(args, cifer.raw, tables.fields(_cifer_fields(cifer)))
    return EXIT_OK


@command("keys get")
def run_get(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        cifer = client.cifers.get(args.cifer_id)
    _print(args, cifer.raw, tables.fields(_cifer_fields(cifer)))
    return EXIT_OK


@command("keys list")
def run_list(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        page = client.cifers.list(status=args.status, limit=args.limit, cursor=args.cursor)
    rows = [(c.id, c.name, c.status, c.key_version, c.key_algorithm, c.created_at) for c in page]
    text = tables.table(("ID", "NAME", "STATUS", "VERSION", "ALGORITHM", "CREATED"), rows)
    if page.has_more and page.next_cursor:
        text += f"\n(more: --cursor {page.next_cursor})"
    _print(args, page.raw, text)
    return EXIT_OK


@command("keys rotate")
def run_rotate(args: argparse.Namespace) -> int:
    with client_from(args) as client:
        rotation = client.cifers.rotate(args.cifer_id, re_encryption_window_days=args.window_days, reason=args.reason)
    _print(args, rotation.raw, tables.fields([
        ("ID", rotation.cifer_id), ("OLD KEY VERSION", rotation.old_key_version),
        ("NEW KEY VERSION", rotation.new_key_version), ("ROTATED AT", rotation.rotation_initiated_at),
        ("RE-ENCRYPT BY", rotation.re_encryption_deadline),
    ]))
    return EXIT_OK


def _confirmed(cifer_id: str) -> bool:
    """Ask on the terminal; the id must be typed back, as for any irreversible act."""
    print(f"Revoking {cifer_id} is irreversible: everything encrypted to it becomes unreadable.",
          file=sys.stderr)
    print("Type the CIFER id to confirm: ", end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip() == cifer_id


@command("keys revoke")
def run_revoke(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("revocation is irreversible: pass --yes to confirm")
        if not _confirmed(args.cifer_id):
            raise UsageError("not confirmed; nothing was revoked")
    with client_from(args) as client:
        revocation = client.cifers.revoke(args.cifer_id)
    _print(args, revocation.raw, tables.fields([
        ("ID", revocation.cifer_id), ("STATUS", revocation.status), ("REVOKED AT", revocation.revoked_at),
        ("WARNING", revocation.warning),
    ]))
    return EXIT_OK
