"""`cifer keyservice`: serve the key service, migrate its database, manage API keys, verify
the audit log. The admin commands work on the database directly, as Vault's operator
commands do; they need the same KEK as the service only where keys are involved."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

from aiohttp import web

from cifer.datadir import default_data_dir
from cifer.keystore.config import add_kek_arguments, kek_settings, open_kek
from cifer_keyservice import servicekeys
from cifer_keyservice.app import create_app
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.db import migrate
from cifer_keyservice.db.engine import create_engine, default_url, sessions
from cifer_keyservice.ratelimit import ROUTES as RATE_LIMITED_ROUTES
from cifer_keyservice.requests import MAX_PRINCIPAL_CHARS
from cifer_keyservice.settings import SCOPES, KeyServiceSettings, Limit, OidcSettings, RateLimits, TokenReviewSettings

KEK_FILE = "kek.key"
RATE_CATEGORIES = tuple(dict.fromkeys(RATE_LIMITED_ROUTES.values()))


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("keyservice", help="the key service and its admin commands")
    parser.add_argument("--data-dir", type=Path, default=None, help=f"state directory (default {default_data_dir()})")
    parser.add_argument("--database-url", default=os.environ.get("CIFER_DATABASE_URL"),
                        help="PostgreSQL or SQLite DSN (default $CIFER_DATABASE_URL, else SQLite in the data directory)")
    add_kek_arguments(parser)
    kube = parser.add_argument_group("Kubernetes", "accept ServiceAccount tokens, checked by TokenReview")
    kube.add_argument("--kube-in-cluster", action="store_true", help="the API server of the pod's cluster")
    kube.add_argument("--kube-api-url", default=None, help="an API server URL (outside a cluster)")
    kube.add_argument("--kube-reviewer-token-file", type=Path, default=None,
                      help="the key service's own token (RBAC: system:auth-delegator)")
    kube.add_argument("--kube-ca-file", default=None, help="CA bundle of the API server")
    kube.add_argument("--kube-insecure-skip-tls-verify", action="store_true", help="tests only")
    oidc = parser.add_argument_group("OIDC", "accept an identity provider's JWTs, verified against its JWKS")
    oidc.add_argument("--oidc-issuer", default=None, help="the provider's `iss`, exactly as in its tokens")
    oidc.add_argument("--oidc-audience", default=None, help="the audience its tokens for CIFER carry in `aud`")
    oidc.add_argument("--oidc-jwks-url", default=None, help="the provider's JWKS URL (https)")
    oidc.add_argument("--oidc-ca-file", default=None, help="CA bundle of the JWKS endpoint (default: system)")
    limits = parser.add_argument_group("rate limits", "seed §8.1, per principal; shared by every replica")
    limits.add_argument("--rate-limit", action="append", type=_rate_limit, default=[],
                        metavar="CATEGORY=LIMIT/WINDOW_S",
                        help=f"override one category's limit, e.g. decrypt=100/60; repeatable; "
                             f"categories: {', '.join(RATE_CATEGORIES)}")
    limits.add_argument("--redis-url", default=os.environ.get("CIFER_REDIS_URL") or None,
                        help="count in this Redis (default $CIFER_REDIS_URL, else in the database)")
    sub = parser.add_subparsers(dest="keyservice_command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="serve the key service API")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8081, help="port to listen on (default 8081)")
    serve.add_argument("--admin-principal", action="append", type=_principal, default=[], metavar="NAME",
                       help="grant NAME the admin scope and exempt it from rate limits, whatever its kind of "
                            "credential (the operator: system:serviceaccount:cifer-system:cifer-operator); repeatable")
    serve.add_argument("--webhook-allow-private-networks", action="store_true",
                       help="deliver webhooks to loopback and private addresses too (in-cluster receivers; "
                            "off by default against SSRF)")
    serve.set_defaults(func=_serve)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(func=_migrate)

    apikey = sub.add_parser("apikey", help="create, list and revoke API keys").add_subparsers(
        dest="apikey_command", metavar="ACTION", required=True)
    create = apikey.add_parser("create", help="make a key and print it once")
    create.add_argument("--owner", required=True, help="the principal the key acts for, e.g. usr_alice")
    create.add_argument("--scope", action="append", required=True, choices=sorted(SCOPES), help="repeat per scope")
    create.add_argument("--live", action="store_true", help="an sk_live_ key (default sk_test_)")
    create.set_defaults(func=_apikey_create)
    apikey.add_parser("list", help="keys by id, hint, owner and scopes").set_defaults(func=_apikey_list)
    revoke = apikey.add_parser("revoke", help="revoke a key by its id (ak_...)")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_apikey_revoke)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_command", metavar="ACTION",
                                                                          required=True)
    audit.add_parser("verify", help="check the whole chain; exit 1 if anything was altered").set_defaults(
        func=_audit_verify)


def _rate_limit(spec: str) -> tuple[str, Limit]:
    """`decrypt=100/60`: a category, its limit, and its window in seconds."""
    category, _, rest = spec.partition("=")
    limit, _, window_s = rest.partition("/")
    if category not in RATE_CATEGORIES or not (limit.isdigit() and window_s.isdigit() and int(limit) and int(window_s)):
        raise argparse.ArgumentTypeError(f"{spec!r} is not CATEGORY=LIMIT/WINDOW_S with positive numbers "
                                         f"and a category of {', '.join(RATE_CATEGORIES)}")
    return category, Limit(int(limit), int(window_s))


def _principal(name: str) -> str:
    if not name or len(name) > MAX_PRINCIPAL_CHARS or not name.isprintable() or name != name.strip():
        raise argparse.ArgumentTypeError(f"{name!r} is not a principal name (1 to {MAX_PRINCIPAL_CHARS} "
                                         "printable characters, e.g. system:serviceaccount:NS:NAME)")
    return name


def settings_from(args: argparse.Namespace) -> KeyServiceSettings:
    data_dir = (args.data_dir or default_data_dir()).resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    review = None
    if args.kube_in_cluster or args.kube_api_url:
        review = TokenReviewSettings(
            api_url=None if args.kube_in_cluster else args.kube_api_url,
            reviewer_token_file=args.kube_reviewer_token_file, ca_file=args.kube_ca_file,
            insecure_skip_tls_verify=args.kube_insecure_skip_tls_verify,
        )
    oidc = None
    oidc_args = (args.oidc_issuer, args.oidc_audience, args.oidc_jwks_url)
    if any(oidc_args) or args.oidc_ca_file:
        if not all(oidc_args):
            raise SystemExit("cifer keyservice: --oidc-issuer, --oidc-audience and --oidc-jwks-url go together")
        oidc = OidcSettings(issuer=args.oidc_issuer, audience=args.oidc_audience, jwks_url=args.oidc_jwks_url,
                            ca_file=args.oidc_ca_file)
    return KeyServiceSettings(
        database_url=args.database_url or default_url(data_dir),
        kek=kek_settings(args, default_file=data_dir / KEK_FILE),
        token_review=review,
        oidc=oidc,
        rate_limits=dataclasses.replace(RateLimits(), **dict(args.rate_limit)),
        redis_url=args.redis_url,
        admin_principals=frozenset(getattr(args, "admin_principal", ())),  # `serve` only
        webhook_allow_private_networks=getattr(args, "webhook_allow_private_networks", False),
    )


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    print(f"CIFER key service listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    web.run_app(create_app(settings), host=args.host, port=args.port, print=None, shutdown_timeout=5)
    return 0


async def _with_database(settings: KeyServiceSettings, work):
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        return await work(sessions(engine))
    finally:
        await engine.dispose()


def _migrate(args: argparse.Namespace) -> int:
    asyncio.run(_with_database(settings_from(args), lambda maker: asyncio.sleep(0)))
    print("database schema is up to date")
    return 0


def _apikey_create(args: argparse.Namespace) -> int:
    async def work(maker):
        return await ApiKeyStore(maker).create(owner_id=args.owner, scopes=args.scope, live=args.live)
    try:
        key, record = asyncio.run(_with_database(settings_from(args), work))
    except ValueError as exc:
        print(f"cifer keyservice apikey create: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"id": record.id, "key": key, "owner_id": record.owner_id, "scopes": record.scopes}))
    print("The key is shown only this once.", file=sys.stderr)
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    for row in asyncio.run(_with_database(settings_from(args), lambda maker: ApiKeyStore(maker).list())):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    revoked = asyncio.run(_with_database(settings_from(args), lambda maker: ApiKeyStore(maker).revoke(args.key_id)))
    if not revoked:
        print(f"no active API key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def work(maker):
        kek = open_kek(settings.kek, create=False)
        try:
            keys = await servicekeys.load(maker, kek)
        finally:
            kek.close()
        return await AuditLog(keys[servicekeys.AUDIT]).verify(maker)

    intact, checked, problem = asyncio.run(_with_database(settings, work))
    if intact:
        print(f"audit log intact: {checked} records")
        return 0
    print(f"audit log ALTERED after {checked} good records: {problem}", file=sys.stderr)
    return 1
