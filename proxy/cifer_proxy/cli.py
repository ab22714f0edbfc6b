"""`cifer proxy`: the sidecar, as its container runs it (seed §10.4)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from aiohttp import web

from cifer_proxy.app import create_app
from cifer_proxy.settings import DEFAULT_TOKEN_FILE, SidecarSettings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("proxy", help="run the sidecar (the CIFER API on 127.0.0.1:8080)")
    parser.add_argument("--keyservice-url", default=os.environ.get("CIFER_KEYSERVICE_URL"),
                        help="the key service (default $CIFER_KEYSERVICE_URL)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--token-file", type=Path, default=None,
                        help=f"the pod's projected ServiceAccount token (default {DEFAULT_TOKEN_FILE} if present)")
    parser.add_argument("--public-key-ttl", type=float, default=SidecarSettings.public_key_ttl_s, metavar="SECONDS",
                        help="how long a fetched public key is used (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.keyservice_url:
        raise SystemExit("cifer proxy: name the key service with --keyservice-url or $CIFER_KEYSERVICE_URL")
    token_file = args.token_file or (DEFAULT_TOKEN_FILE if DEFAULT_TOKEN_FILE.exists() else None)
    settings = SidecarSettings(keyservice_url=args.keyservice_url, host=args.host, port=args.port,
                               api_key=os.environ.get("CIFER_API_KEY") or None, token_file=token_file,
                               public_key_ttl_s=args.public_key_ttl)
    print(f"CIFER sidecar listening on http://{settings.host}:{settings.port}", flush=True)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, shutdown_timeout=5)
    return 0
