"""`cifer inference`: the FHE inference service of seed 004. Imports nothing heavy until it
runs: TenSEAL and numpy are the `[fhe]` extra."""

from __future__ import annotations

import argparse

from cifer.settings import add_flags, from_arguments
from cifer.tls import ServerCertificate, ServerTlsSettings
from cifer_inference.settings import InferenceSettings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("inference", help="run the FHE inference service (seed 004; needs cifer[fhe])")
    add_flags(parser, InferenceSettings)
    add_flags(parser.add_argument_group("TLS", "serve HTTPS; the files are reloaded when replaced"), ServerTlsSettings)
    parser.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> InferenceSettings:
    return from_arguments(InferenceSettings, args)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from cifer.api.server import Listener, serve
    from cifer.exceptions import CoreError
    from cifer_inference.app import create_app
    from cifer_inference.errors import render_unparsed
    settings = settings_from(args)
    try:
        app = create_app(settings)
    except CoreError as exc:  # TenSEAL missing, a broken model file: one line, no traceback
        raise SystemExit(f"cifer inference: {exc}") from None
    tls = ServerCertificate.of(settings.tls)
    print(f"CIFER inference service listening on {'https' if tls else 'http'}://{settings.host}:{settings.port}",
          flush=True)
    asyncio.run(serve([Listener(app, settings.host, settings.port, ssl_context=tls and tls.context,
                                render=render_unparsed)]))
    return 0
