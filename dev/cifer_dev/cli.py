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
import dataclasses
import signal
import sys
from pathlib import Path

from aiohttp import web

from cifer import apikeys
from cifer.api import server
from cifer.keystore.config import StateSettings, add_kek_arguments, kek_settings
from cifer.settings import add_flags, from_arguments, setting
from cifer.settings.sidecar import SidecarSettings
from cifer_keyservice.app import create_app as keyservice_app
from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.db.engine import create_engine, default_url, sessions
from cifer_keyservice.settings import KeyServiceSettings
from cifer_proxy.app import create_app as sidecar_app
from cifer_proxy.state import SETTINGS

KEK_FILE = "kek.key"
AUDIT_FILE = "audit.log"
DEV_OWNER = "usr_dev"
# admin as well: the only key on a developer's machine reads the whole audit log and manages everything
DEV_SCOPES = ("cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt", "admin")


@dataclasses.dataclass(frozen=True)
class DevSettings:
    """What `cifer dev` takes beside the sidecar's address, its state directory and its KEK."""

    api_key: str | None = setting("--api-key", env="CIFER_API_KEY", default=None, repr=False)
    """The API key to accept; None: a new one, printed once."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dev", help="run CIFER on this machine (no Kubernetes)")
    add_flags(parser, SidecarSettings, only=("host", "port", "grpc_port"))
    add_flags(parser, StateSettings)
    add_flags(parser, DevSettings)
    add_kek_arguments(parser)
    parser.set_defaults(func=run)


def _api_key(given: str | None) -> str:
    if given is None:
        key = apikeys.generate_api_key(live=False)
        print(f"API key (shown once; pass --api-key or set CIFER_API_KEY to keep one): {key}", flush=True)
        return key
    if not apikeys.is_well_formed(given):
        raise SystemExit("cifer dev: the API key must be sk_test_ or sk_live_ followed by 56 letters or digits")
    return given


async def _accept(database_url: str, key: str) -> None:
    engine = create_engine(database_url)
    try:
        await ApiKeyStore(sessions(engine)).ensure(key, owner_id=DEV_OWNER, scopes=DEV_SCOPES)
    finally:
        await engine.dispose()


async def serve(keyservice: KeyServiceSettings, *, key: str, host: str, port: int, grpc_port: int | None,
                audit_path: Path) -> None:
    with audit_path.open("a", encoding="utf-8") as audit:
        audit_path.chmod(0o600)
        inner = server.AppRunner(keyservice_app(keyservice, audit_stream=audit), handle_signals=False)
        await inner.setup()  # opens the KEK and migrates: a token that cannot be reached stops here
        try:
            await web.TCPSite(inner, "127.0.0.1", 0).start()
            inner_port = inner.addresses[0][1]
            await _accept(keyservice.database_url, key)
            sidecar = sidecar_app(SidecarSettings(
                keyservice_url=f"http://127.0.0.1:{inner_port}", host=host, port=port, grpc_port=grpc_port,
                callback_allow_private_networks=True))  # a developer's receivers are local
            outer = server.AppRunner(sidecar, handle_signals=False)
            await outer.setup()
            try:
                await web.TCPSite(outer, host, port).start()
                grpc = sidecar[SETTINGS].grpc_port  # in effect: 9090 unless told, where grpcio is installed
                print(f"CIFER dev listening on http://{host}:{port}{f' and gRPC {host}:{grpc}' if grpc else ''} "
                      f"(data in {audit_path.parent})", flush=True)
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
    data_dir = from_arguments(StateSettings, args).data_dir
    kek = kek_settings(args, default_file=data_dir / KEK_FILE)
    key = _api_key(from_arguments(DevSettings, args).api_key)
    # only where the sidecar listens: the key service's URL is known once it listens, and the
    # sidecar's own environment ($CIFER_API_KEY among it) is not `cifer dev`'s
    listen = from_arguments(SidecarSettings, args, only=("host", "port", "grpc_port"), keyservice_url="")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The authorization server's pages and endpoints are reached where `cifer dev` listens.
    issuer = f"http://{'127.0.0.1' if listen.host in ('0.0.0.0', '::') else listen.host}:{listen.port}"
    settings = KeyServiceSettings(database_url=default_url(data_dir), kek=kek, oauth_issuer=issuer)
    asyncio.run(serve(settings, key=key, host=listen.host, port=listen.port, grpc_port=listen.grpc_port,
                      audit_path=data_dir / AUDIT_FILE))
    print("CIFER dev stopped", file=sys.stderr, flush=True)
    return 0
