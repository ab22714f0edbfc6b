"""`cifer proxy`: the sidecar, as its container runs it (seed §10.4)."""

from __future__ import annotations

import argparse
import asyncio

from cifer.api import server
from cifer.settings import add_flags, from_arguments
from cifer.settings.sidecar import DEFAULT_TOKEN_FILE, SidecarSettings
from cifer.tls import client_context, require_keyservice_tls
from cifer_proxy.app import create_app, create_probe_app


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("proxy", help="run the sidecar (the CIFER API on 127.0.0.1:8080)")
    add_flags(parser, SidecarSettings)
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> SidecarSettings:
    """The settings; TlsError (one line) for a plain key-service URL off loopback or a CA bundle
    that cannot be read, before anything listens."""
    settings = from_arguments(SidecarSettings, args,
                              defaults={"token_file": DEFAULT_TOKEN_FILE} if DEFAULT_TOKEN_FILE.exists() else {})
    require_keyservice_tls(settings.keyservice_url, allow_plaintext=settings.insecure_allow_plaintext_keyservice)
    client_context(settings.keyservice_ca)
    client_context(settings.inference_ca)
    return settings


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    print(f"CIFER sidecar listening on http://{settings.host}:{settings.port}", flush=True)
    asyncio.run(serve(settings))
    return 0


async def serve(settings: SidecarSettings) -> None:
    """The API on its loopback address and, if asked, the probes' listener; until SIGTERM or SIGINT."""
    listeners = [server.Listener(create_app(settings), settings.host, settings.port)]
    if settings.health_port is not None:  # probes come from the node
        listeners.append(server.Listener(create_probe_app(), "0.0.0.0", settings.health_port, access_log=False))
    await server.serve(listeners)
