"""`cifer inference`: the FHE inference service of seed 004. Imports nothing heavy until it
runs: `cifer` loads every subcommand at start, and TenSEAL is an optional dependency."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_PORT = 8000


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("inference", help="run the FHE inference service (seed 004; needs cifer[fhe])")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--models", type=Path, default=None, metavar="DIR",
                        help="the model registry: a directory of weight files (default: the models shipped "
                             "with CIFER, written by scripts/train-fhe-models)")
    parser.add_argument("--session-ttl", type=float, default=3600.0, metavar="SECONDS",
                        help="forget a session unused this long (default %(default)s)")
    parser.add_argument("--max-sessions", type=int, default=64, help="most sessions at once (default %(default)s)")
    parser.add_argument("--max-sessions-mib", type=int, default=2048, metavar="MIB",
                        help="most memory of all sessions' evaluation keys (default %(default)s)")
    parser.add_argument("--max-register-body-mib", type=int, default=128, metavar="MIB",
                        help="largest key registration body (default %(default)s)")
    parser.add_argument("--max-concurrent-evaluations", type=int, default=1, metavar="N",
                        help="evaluations at once, in threads (default %(default)s; scale out with replicas)")
    limits = parser.add_argument_group("rate limits", "seed 004's table, counted by this process")
    limits.add_argument("--rate-limit", action="append", type=_rate_limit, default=[],
                        metavar="CATEGORY=LIMIT/WINDOW_S",
                        help="override one limit, e.g. infer=600/60; repeatable; categories: models (per client "
                             "address), register (per client address), infer (per session)")
    limits.add_argument("--no-rate-limits", action="store_true", help="count nothing (benchmarks)")
    parser.set_defaults(func=run)


def _rate_limit(spec: str) -> tuple[str, tuple[int, int]]:
    from cifer_inference.settings import RATE_CATEGORIES
    category, _, rest = spec.partition("=")
    limit, _, window_s = rest.partition("/")
    if category not in RATE_CATEGORIES or not (limit.isdigit() and window_s.isdigit() and int(limit)
                                               and int(window_s)):
        raise argparse.ArgumentTypeError(f"{spec!r} is not CATEGORY=LIMIT/WINDOW_S with positive numbers "
                                         f"and a category of {', '.join(RATE_CATEGORIES)}")
    return category, (int(limit), int(window_s))


def settings_from(args: argparse.Namespace):
    import dataclasses

    from cifer_inference.settings import MiB, InferenceSettings, RateLimit, RateLimits
    limits = None if args.no_rate_limits else dataclasses.replace(
        RateLimits(), **{name: RateLimit(*value) for name, value in args.rate_limit})
    extra = {"models_dir": args.models} if args.models else {}
    return InferenceSettings(host=args.host, port=args.port, session_ttl_s=args.session_ttl,
                             max_sessions=args.max_sessions, max_sessions_bytes=args.max_sessions_mib * MiB,
                             max_register_body_bytes=args.max_register_body_mib * MiB,
                             max_concurrent_evaluations=args.max_concurrent_evaluations, rate_limits=limits, **extra)


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from cifer.exceptions import CoreError
    from cifer_inference.app import create_app
    settings = settings_from(args)
    try:
        app = create_app(settings)
    except CoreError as exc:  # TenSEAL missing, a broken model file: one line, no traceback
        raise SystemExit(f"cifer inference: {exc}") from None
    print(f"CIFER inference service listening on http://{settings.host}:{settings.port}", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None, shutdown_timeout=5)
    return 0
