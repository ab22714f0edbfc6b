"""`cifer proxy`: the sidecar, as its container runs it (seed §10.4)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from aiohttp import web

from cifer_proxy.app import create_app, create_probe_app
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
    parser.add_argument("--health-port", type=int, default=None,
                        help="also answer GET /v1/health (the sidecar alone) on this port on all addresses, "
                             "for the kubelet's probes")
    parser.add_argument("--inference-url", default=os.environ.get("CIFER_INFERENCE_URL") or None,
                        help="the inference service for /v1/infer (default $CIFER_INFERENCE_URL)")
    parser.add_argument("--warm", action="append", default=[], metavar="CIFER_ID",
                        help="fetch this cifer's public key at start (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.keyservice_url:
        raise SystemExit("cifer proxy: name the key service with --keyservice-url or $CIFER_KEYSERVICE_URL")
    token_file = args.token_file or (DEFAULT_TOKEN_FILE if DEFAULT_TOKEN_FILE.exists() else None)
    settings = SidecarSettings(keyservice_url=args.keyservice_url, host=args.host, port=args.port,
                               api_key=os.environ.get("CIFER_API_KEY") or None, token_file=token_file,
                               public_key_ttl_s=args.public_key_ttl, warm_cifer_ids=tuple(args.warm),
                               inference_url=args.inference_url,
                               health_port=args.health_port)
    print(f"CIFER sidecar listening on http://{settings.host}:{settings.port}", flush=True)
    asyncio.run(serve(settings))
    return 0


async def serve(settings: SidecarSettings) -> None:
    """The API on its loopback address and, if asked, the probes' listener; until SIGTERM or SIGINT."""
    runners = [web.AppRunner(create_app(settings), shutdown_timeout=5)]
    sites = [(runners[0], settings.host, settings.port)]
    if settings.health_port is not None:
        runners.append(web.AppRunner(create_probe_app(), access_log=None))
        sites.append((runners[1], "0.0.0.0", settings.health_port))  # noqa: S104 - probes come from the node
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        for runner, host, port in sites:
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
