"""`cifer dev`: the whole product on one machine, no Kubernetes.

The key service (SQLite in the data directory; a file KEK, or a PKCS#11 token such as
SoftHSM2 when one is named) listens on a loopback port of its own, and the sidecar serves
the whole CIFER API in front of it on `--port`, exactly as in a pod. The API key is given
or made and printed once; every call but health, public keys, metrics and OpenAPI needs it.
Audit records go to `audit.log` in the data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from cifer import apikeys
from cifer.datadir import default_data_dir
from cifer.keystore.config import add_kek_arguments, kek_settings
from cifer_keyservice.app import create_app as keyservice_app
from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.db.engine import create_engine, default_url, sessions
from cifer_keyservice.settings import KeyServiceSettings
from cifer_proxy.app import create_app as sidecar_app
from cifer_proxy.settings import SidecarSettings

KEK_FILE = "kek.key"
AUDIT_FILE = "audit.log"
DEV_OWNER = "usr_dev"
DEV_SCOPES = ("cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt")


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


async def _accept(database_url: str, key: str) -> None:
    engine = create_engine(database_url)
    try:
        await ApiKeyStore(sessions(engine)).ensure(key, owner_id=DEV_OWNER, scopes=DEV_SCOPES)
    finally:
        await engine.dispose()


async def serve(keyservice: KeyServiceSettings, *, key: str, host: str, port: int, audit_path: Path) -> None:
    with audit_path.open("a", encoding="utf-8") as audit:
        audit_path.chmod(0o600)
        inner = web.AppRunner(keyservice_app(keyservice, audit_stream=audit), handle_signals=False)
        await inner.setup()  # opens the KEK and migrates: a token that cannot be reached stops here
        try:
            await web.TCPSite(inner, "127.0.0.1", 0).start()
            inner_port = inner.addresses[0][1]
            await _accept(keyservice.database_url, key)
            outer = web.AppRunner(sidecar_app(SidecarSettings(keyservice_url=f"http://127.0.0.1:{inner_port}",
                                                              host=host, port=port)), handle_signals=False)
            await outer.setup()
            try:
                await web.TCPSite(outer, host, port).start()
                print(f"CIFER dev listening on http://{host}:{port} (data in {audit_path.parent})", flush=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, stop.set)
                await stop.wait()
            finally:
                await outer.cleanup()
        finally:
            await inner.cleanup()


def run(args: argparse.Namespace) -> int:
    data_dir = (args.data_dir or default_data_dir()).resolve()
    kek = kek_settings(args, default_file=data_dir / KEK_FILE)
    key = _api_key(args.api_key)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings = KeyServiceSettings(database_url=default_url(data_dir), kek=kek)
    asyncio.run(serve(settings, key=key, host=args.host, port=args.port, audit_path=data_dir / AUDIT_FILE))
    print("CIFER dev stopped", file=sys.stderr, flush=True)
    return 0
