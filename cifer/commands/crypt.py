"""`cifer encrypt` and `cifer decrypt`: files or pipes through the sidecar's binary API,
streamed both ways (seed §10.2), so any size runs in bounded memory."""

from __future__ import annotations

import argparse
import sys

from cifer.commands.common import (
    EXIT_CODES_EPILOG, EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE, UsageError, client_from, command,
    connection_options,
)
from cifer.commands.files import STDIO, Output, Progress, open_input, want_progress


def _metadata_item(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _add_io_arguments(parser: argparse.ArgumentParser, *, what_in: str, what_out: str) -> None:
    parser.add_argument("-i", "--input", default=STDIO, metavar="FILE", help=f"{what_in} (default -: stdin)")
    parser.add_argument("-o", "--output", default=STDIO, metavar="FILE",
                        help=f"{what_out} (default -: stdout); a file appears only when complete")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")


def register_encrypt(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "encrypt", parents=[connection_options()], help="encrypt a file or stdin to a CIFER",
        description="Encrypt to a CIFER's public key through the sidecar; the output is a CIFER envelope.",
        epilog=EXIT_CODES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cifer-id", required=True, metavar="ID", help="the CIFER to encrypt to (cif_...)")
    parser.add_argument("--metadata", type=_metadata_item, nargs="+", action="extend", default=[],
                        metavar="KEY=VALUE", help="metadata sealed with the data (repeatable)")
    _add_io_arguments(parser, what_in="plaintext to read", what_out="envelope to write")
    parser.set_defaults(func=run_encrypt)


def register_decrypt(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "decrypt", parents=[connection_options()], help="decrypt a CIFER envelope from a file or stdin",
        description="Decrypt a CIFER envelope through the sidecar. A ciphertext that fails authentication "
                    "part-way leaves no output file (on stdout, discard what was written).",
        epilog=EXIT_CODES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_io_arguments(parser, what_in="envelope to read", what_out="plaintext to write")
    parser.set_defaults(func=run_decrypt)


@command("encrypt", stream_aborted=EXIT_UNAVAILABLE)
def run_encrypt(args: argparse.Namespace) -> int:
    metadata = dict(args.metadata)
    with open_input(args.input) as (source, size), Output(args.output) as output:
        if output.is_stdout and sys.stdout.isatty():
            raise UsageError("refusing to write a binary envelope to a terminal: use -o FILE or redirect")
        show = want_progress(input_name=args.input, size=size, disabled=args.no_progress)
        with Progress(source, total=size, label="encrypt", enabled=show) as reader, client_from(args) as client:
            with client.encrypt_stream(args.cifer_id, reader, metadata=metadata or None) as encrypted:
                for chunk in encrypted:
                    output.write(chunk)
        output.commit()
    return EXIT_OK


@command("decrypt", stream_aborted=EXIT_INVALID)
def run_decrypt(args: argparse.Namespace) -> int:
    with open_input(args.input) as (source, size), Output(args.output) as output:
        show = want_progress(input_name=args.input, size=size, disabled=args.no_progress)
        with Progress(source, total=size, label="decrypt", enabled=show) as reader, client_from(args) as client:
            with client.decrypt_stream(reader) as decrypted:
                for chunk in decrypted:
                    output.write(chunk)
        output.commit()
    return EXIT_OK
