"""`cifer keyservice`: serve the key service, migrate its database, manage API keys and the OAuth
2.0 users, clients and signing keys (oauth/admin.py), verify the audit log. The admin commands
work on the database directly, as Vault's operator commands do; they need the same KEK as the
service only where keys are involved."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from cifer.api.server import Listener, serve
from cifer.keystore.config import StateSettings, add_kek_arguments, kek_settings, open_kek
from cifer.settings import add_flags, from_arguments
from cifer.tls import ServerCertificate, ServerTlsSettings
from cifer_keyservice import servicekeys
from cifer_keyservice.app import create_app
from cifer_keyservice.audit import AuditLog, Checkpoint
from cifer_keyservice.audit_checkpoints import CheckpointError, parse_expect, read_file
from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.db import migrate
from cifer_keyservice.db.engine import create_engine, default_url, sessions
from cifer_keyservice.oauth import admin as oauth_admin
from cifer_keyservice.settings import SCOPES, KeyServiceSettings, OidcSettings, TokenReviewSettings

KEK_FILE = "kek.key"
CHECKPOINT_FILE = "audit-checkpoint.json"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("keyservice", help="the key service and its admin commands")
    _add_shared_flags(parser)
    sub = parser.add_subparsers(dest="keyservice_command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="serve the key service API")
    add_flags(serve, KeyServiceSettings, only=("host", "port", "admin_principals", "webhook_allow_private_networks",
                                             "seed_cache_ttl_s", "seed_cache_size", "audit_checkpoint_file",
                                             "audit_checkpoint_interval_s", "audit_checkpoint_events",
                                             "oauth_issuer", "oauth_access_token_ttl_s", "oauth_refresh_token_ttl_s",
                                             "oauth_signing_key_rotation_s"))
    add_flags(serve.add_argument_group("TLS", "serve HTTPS; the files are reloaded when replaced"), ServerTlsSettings)
    _add_shared_flags(serve, again=True)  # the chart passes --kube-in-cluster after `serve`
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

    oauth_admin.register(sub, settings_from, _with_database)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_command", metavar="ACTION",
                                                                          required=True)
    verify = audit.add_parser("verify", help="check the whole chain; exit 1 if anything was altered or removed")
    verify.add_argument("--expect", action="append", default=[], metavar="SEQ:HASH", type=_expect,
                        help="the log must reach record SEQ with chain hash HASH (from the audit stream); repeatable")
    verify.add_argument("--checkpoint", action="append", default=[], metavar="FILE", type=Path,
                        help="the log must reach every checkpoint in FILE (the checkpoint file, or a saved audit "
                             "stream); repeatable")
    verify.set_defaults(func=_audit_verify)


def _expect(text: str) -> Checkpoint:
    try:
        return parse_expect(text)
    except CheckpointError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_shared_flags(parser: argparse.ArgumentParser, *, again: bool = False) -> None:
    """The flags every command takes: where the state, the database and the KEK are, and how
    callers are checked and limited."""
    add_flags(parser, StateSettings, again=again)
    add_flags(parser, KeyServiceSettings, only=("database_url",), again=again)
    add_kek_arguments(parser, again=again)
    kube = parser.add_argument_group("Kubernetes", "accept ServiceAccount tokens, checked by TokenReview")
    add_flags(kube, KeyServiceSettings, only=("token_review",), again=again)
    add_flags(kube, TokenReviewSettings, again=again)
    add_flags(parser.add_argument_group("OIDC", "accept an identity provider's JWTs, verified against its JWKS"),
              OidcSettings, again=again)
    limits = parser.add_argument_group("rate limits", "seed §8.1, per principal; shared by every replica")
    add_flags(limits, KeyServiceSettings, only=("rate_limits", "redis_url"), again=again)


def settings_from(args: argparse.Namespace) -> KeyServiceSettings:
    """The service's settings; the data directory supplies the database and the file KEK that
    are not named. Flags of `serve` are absent for the other commands: they keep their defaults."""
    data_dir = from_arguments(StateSettings, args).data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return from_arguments(KeyServiceSettings, args, kek=kek_settings(args, default_file=data_dir / KEK_FILE),
                          defaults={"database_url": default_url(data_dir),
                                    "audit_checkpoint_file": data_dir / CHECKPOINT_FILE})


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    tls = ServerCertificate.of(settings.tls)
    scheme = "https" if tls else "http"
    print(f"CIFER key service listening on {scheme}://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    asyncio.run(serve([Listener(create_app(settings), settings.host, settings.port, ssl_context=tls and tls.context)]))
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
    checkpoints = list(args.expect)
    try:
        for path in args.checkpoint:
            checkpoints += read_file(path)
    except CheckpointError as exc:
        print(f"cifer keyservice audit verify: {exc}", file=sys.stderr)
        return 2

    async def work(maker):
        kek = open_kek(settings.kek, create=False)
        try:
            keys = await servicekeys.load(maker, kek)
        finally:
            kek.close()
        return await AuditLog(keys[servicekeys.AUDIT]).verify(maker, checkpoints=checkpoints)

    intact, checked, problem = asyncio.run(_with_database(settings, work))
    if intact:
        reached = f", reaching {len(checkpoints)} checkpoint(s)" if checkpoints else ""
        print(f"audit log intact: {checked} records{reached}")
        return 0
    print(f"audit log ALTERED after {checked} good records: {problem}", file=sys.stderr)
    return 1
