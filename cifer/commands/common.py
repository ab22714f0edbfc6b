"""What every client command shares: the connection options, the exit codes, and the one
wrapper that turns a failure into one line on stderr and its exit code."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from cifer.sdk.errors import CONNECTION_ERROR, STREAM_ABORTED, CiferError
from cifer.sdk.settings import API_KEY_ENV, BASE_URL_ENV, CA_FILE_ENV, DEFAULT_BASE_URL

if TYPE_CHECKING:
    from cifer.sdk.sync_client import CiferClient

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2  # argparse's own, too
EXIT_DENIED = 3
EXIT_NOT_FOUND = 4
EXIT_INVALID = 5
EXIT_RATE_LIMITED = 6
EXIT_UNAVAILABLE = 7
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C

EXIT_CODES_EPILOG = """\
exit codes:
  0  success
  1  unexpected error
  2  usage: bad arguments, unreadable input, unwritable output, revocation not confirmed
  3  authentication or permission refused (UNAUTHORIZED, FORBIDDEN, UNAUTHORIZED_DECRYPT)
  4  not found, or the CIFER is revoked (NOT_FOUND, CIFER_REVOKED)
  5  invalid input or ciphertext (INVALID_REQUEST, INVALID_CIFER_ID, INVALID_CIPHERTEXT,
     a decryption stream cut off by a chunk that failed authentication)
  6  rate limited (RATE_LIMIT_EXCEEDED); retried first, as long as Retry-After is short
  7  service unavailable or no connection (SERVICE_UNAVAILABLE, connection failures)
"""

_EXIT_BY_CODE = {
    "UNAUTHORIZED": EXIT_DENIED, "FORBIDDEN": EXIT_DENIED, "UNAUTHORIZED_DECRYPT": EXIT_DENIED,
    "NOT_FOUND": EXIT_NOT_FOUND, "CIFER_REVOKED": EXIT_NOT_FOUND,
    "INVALID_REQUEST": EXIT_INVALID, "INVALID_CIFER_ID": EXIT_INVALID, "INVALID_CIPHERTEXT": EXIT_INVALID,
    "PAYLOAD_TOO_LARGE": EXIT_INVALID,
    "RATE_LIMIT_EXCEEDED": EXIT_RATE_LIMITED,
    "SERVICE_UNAVAILABLE": EXIT_UNAVAILABLE, CONNECTION_ERROR: EXIT_UNAVAILABLE,
}


class UsageError(Exception):
    """A problem with what the user asked for, found after parsing: exit 2."""


def exit_code(error: CiferError, *, stream_aborted: int = EXIT_UNAVAILABLE) -> int:
    """The exit code for an SDK error. A cut-off stream means a bad chunk when decrypting, a
    broken connection otherwise; the command says which with `stream_aborted`."""
    if error.code == STREAM_ABORTED:
        return stream_aborted
    return _EXIT_BY_CODE.get(error.code, EXIT_UNEXPECTED)


def describe(error: CiferError) -> str:
    """One line: the code, the server's message, and what helps next (wait, request id)."""
    text = f"{error.code}: {error.message}"
    if error.retry_after is not None:
        text += f" (retry after {error.retry_after:g} s)"
    if error.request_id:
        text += f" [request {error.request_id}]"
    return " ".join(text.split())


def connection_options() -> argparse.ArgumentParser:
    """`--url`, `--api-key` and `--ca-file`, for `parents=[...]`. The key's value is never printed."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument("--url", default=None, metavar="URL",
                       help=f"the sidecar or `cifer dev` (default ${BASE_URL_ENV}, else {DEFAULT_BASE_URL})")
    group.add_argument("--api-key", default=None, metavar="KEY",
                       help=f"API key (default ${API_KEY_ENV}; none: the sidecar's own identity)")
    group.add_argument("--ca-file", default=None, metavar="FILE",
                       help=f"CA bundle an https --url is verified against (default ${CA_FILE_ENV}, else the "
                            "system's trust store)")
    return parent


def client_from(args: argparse.Namespace) -> CiferClient:
    """A blocking SDK client for the connection options (imported late: `cifer --help` stays light)."""
    from cifer.sdk.sync_client import CiferClient

    try:
        # None: the SDK reads the environment
        return CiferClient(api_key=args.api_key, base_url=args.url, ca_file=args.ca_file)
    except ValueError as exc:  # a malformed --url
        raise UsageError(str(exc)) from None


Command = Callable[[argparse.Namespace], int]


def command(name: str, *, stream_aborted: int = EXIT_UNAVAILABLE) -> Callable[[Command], Command]:
    """Wrap a command's function: every failure becomes one line on stderr, no traceback,
    and the exit code that tells it apart (see EXIT_CODES_EPILOG)."""

    def wrap(func: Command) -> Command:
        @functools.wraps(func)
        def run(args: argparse.Namespace) -> int:
            def fail(message: str, code: int) -> int:
                print(f"cifer {name}: {message}", file=sys.stderr, flush=True)
                return code

            try:
                return func(args)
            except UsageError as exc:
                return fail(str(exc), EXIT_USAGE)
            except CiferError as exc:
                return fail(describe(exc), exit_code(exc, stream_aborted=stream_aborted))
            except KeyboardInterrupt:
                return fail("interrupted", EXIT_INTERRUPTED)
            except BrokenPipeError:
                _silence_stdout()
                return fail("the output was closed before the end", EXIT_UNEXPECTED)
            except Exception as exc:  # a bug or an OS failure: still one line
                return fail(f"unexpected error: {type(exc).__name__}: {exc}", EXIT_UNEXPECTED)

        return run

    return wrap


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
