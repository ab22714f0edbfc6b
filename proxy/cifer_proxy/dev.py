"""`cifer dev`: the whole product on one machine, no Kubernetes: the embedded defaults.

A file KEK in the data directory stands in for the HSM unless a PKCS#11 token (SoftHSM2, say)
is named; the API key is given or made and printed once. It grows into key service and sidecar in one process on one port.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path

from aiohttp import web

from cifer import apikeys
from cifer.datadir import default_data_dir
from cifer.keystore.config import KekSettings, add_kek_arguments, kek_settings, open_kek
from cifer_proxy.app import create_app

KEK_FILE = "kek.key"


@dataclasses.dataclass(frozen=True)
class DevSettings:
    host: str
    """Address to listen on; loopback by default, since dev mode has no TLS."""
    port: int
    """TCP port of the CIFER API."""
    data_dir: Path
    """Where the file KEK (0600) and, later, the SQLite database live."""
    api_key_hash: bytes
    """SHA-256 of the API key that authenticates callers; the key itself is not kept."""
    kek: KekSettings
    """The HSM token when one is named, else a file KEK in the data directory."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dev", help="run CIFER on this machine (no Kubernetes)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"state directory (default {default_data_dir()})")
    parser.add_argument("--api-key", default=None, help="API key to accept (default $CIFER_API_KEY, else a new one)")
    add_kek_arguments(parser)
    parser.set_defaults(func=run)


def _api_key(given: str | None) -> str:
    key = given or os.environ.get("CIFER_API_KEY")
    if key is None:
        key = apikeys.generate_api_key(live=False)
        print(f"API key (shown once; pass --api-key or set CIFER_API_KEY to keep one): {key}", flush=True)
    elif not apikeys.is_well_formed(key):
        raise SystemExit("cifer dev: the API key must be sk_test_ or sk_live_ followed by 56 letters or digits")
    return key


def build(settings: DevSettings) -> web.Application:
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    kek = open_kek(settings.kek, create=True)
    probe = os.urandom(32)

    def round_trip() -> None:
        if kek.unwrap(kek.wrap(probe)) != probe:
            raise RuntimeError("internal error: KEK round trip mismatch")

    async def keystore() -> None:  # an HSM call blocks: keep it off the event loop
        await asyncio.get_running_loop().run_in_executor(None, round_trip)

    app = create_app(health_checks={"keystore": keystore})

    async def close_kek(_app: web.Application):
        yield
        kek.close()

    app.cleanup_ctx.append(close_kek)
    return app


def run(args: argparse.Namespace) -> int:
    data_dir = (args.data_dir or default_data_dir()).resolve()
    settings = DevSettings(
        host=args.host, port=args.port, data_dir=data_dir,
        api_key_hash=apikeys.hash_api_key(_api_key(args.api_key)), kek=kek_settings(args, default_file=data_dir / KEK_FILE),
    )
    app = build(settings)
    print(f"CIFER dev listening on http://{settings.host}:{settings.port} (data in {settings.data_dir})", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, shutdown_timeout=5)
    print("CIFER dev stopped", file=sys.stderr, flush=True)
    return 0
