"""`cifer wait`: until a URL on loopback answers 200, or exit 1 after `--timeout-s`.

The injected sidecar's `postStart` hook runs it (operator/cifer_operator/injection.py, classic
mode): the kubelet starts a pod's containers in order and does not start the next one until the
hook of the one before has returned, so the application, after the sidecar, starts only once the
sidecar answers. It imports nothing but the standard library: it runs at every pod's start."""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.parse
import urllib.request

POLL_S = 0.05


def _loopback_url(text: str) -> str:
    parts = urllib.parse.urlsplit(text)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise argparse.ArgumentTypeError("must be an http:// URL on loopback")
    return text


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("wait", help="wait until a URL on loopback answers 200 (the sidecar's start hook)")
    parser.add_argument("--url", type=_loopback_url, required=True, help="e.g. http://127.0.0.1:15080/v1/health")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="give up after this long: exit 1 (default 60)")
    parser.set_defaults(func=run)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def run(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout_s
    while not answers(args.url):
        if time.monotonic() >= deadline:
            print(f"cifer wait: {args.url} did not answer 200 within {args.timeout_s:g} s", flush=True)
            return 1
        time.sleep(POLL_S)
    return 0
