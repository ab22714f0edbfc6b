"""`cifer keyservice user ...`, `oauth-client ...` and `oauth-key rotate`: the authorization server's
admin commands, on the database directly as `apikey` is. A password is read from standard input
(`--password-stdin`) or asked at the terminal, never taken from an argument (shell history, `ps`);
a client's secret is printed once and kept only as its hash."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from cifer.keystore.config import open_kek
from cifer_keyservice.oauth.clients import ClientStore
from cifer_keyservice.oauth import signing_keys
from cifer_keyservice.oauth.users import DEFAULT_SCOPES, UserError, UserStore
from cifer_keyservice.settings import SCOPES, KeyServiceSettings

Settings = Callable[[argparse.Namespace], KeyServiceSettings]
WithDatabase = Callable[[KeyServiceSettings, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]


def register(sub: argparse._SubParsersAction, settings_from: Settings, with_database: WithDatabase) -> None:
    def run(name: str, work: Callable[[argparse.Namespace, Any, KeyServiceSettings], Awaitable[Any]]):
        def command(args: argparse.Namespace) -> int:
            settings = settings_from(args)
            try:
                out = asyncio.run(with_database(settings, lambda maker: work(args, maker, settings)))
            except UserError as exc:
                print(f"cifer keyservice {name}: {exc}", file=sys.stderr)
                return 2
            print(json.dumps(out, ensure_ascii=False))
            return 0
        return command

    users = sub.add_parser("user", help="the local users who log in on the OAuth 2.0 page").add_subparsers(
        dest="user_command", metavar="ACTION", required=True)
    create = users.add_parser("create", help="add a user (the password from stdin or the terminal)")
    create.add_argument("username")
    create.add_argument("--scope", action="append", choices=sorted(SCOPES),
                        help=f"the most the user's tokens may carry; repeat per scope (default {' '.join(DEFAULT_SCOPES)})")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=run("user create", _user_create))
    for action, disabled in (("disable", True), ("enable", False)):
        parser = users.add_parser(action, help=f"{action} a user's logins (tokens already issued end with their grants)")
        parser.add_argument("username")
        parser.set_defaults(func=run(f"user {action}", _user_disabled(disabled)))
    reset = users.add_parser("reset", help="a new password; unlocks the account")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    reset.set_defaults(func=run("user reset", _user_reset))

    clients = sub.add_parser("oauth-client", help="the applications that may ask for tokens").add_subparsers(
        dest="client_command", metavar="ACTION", required=True)
    client = clients.add_parser("create", help="register a client; a confidential one's secret is printed once")
    client.add_argument("--name", required=True)
    client.add_argument("--redirect-uri", action="append", default=[],
                        help="exactly as the client sends it; repeatable (https, or http on loopback)")
    client.add_argument("--scope", action="append", required=True, choices=sorted(SCOPES), help="repeat per scope")
    kind = client.add_mutually_exclusive_group(required=True)
    kind.add_argument("--public", action="store_true", help="no secret: a browser or mobile app (PKCE required)")
    kind.add_argument("--confidential", action="store_true", help="with a secret: a server-side app")
    client.set_defaults(func=run("oauth-client create", _client_create))
    disable = clients.add_parser("disable", help="refuse the client from now on")
    disable.add_argument("client_id")
    disable.set_defaults(func=run("oauth-client disable", _client_disable))

    keys = sub.add_parser("oauth-key", help="the keys that sign access tokens").add_subparsers(
        dest="key_command", metavar="ACTION", required=True)
    keys.add_parser("rotate", help="a new signing key now; the old one verifies until its tokens expire").set_defaults(
        func=run("oauth-key rotate", _key_rotate))


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise UserError("the passwords differ")
    return first


def _users(maker, settings: KeyServiceSettings) -> UserStore:
    return UserStore(maker, lockout_after=settings.oauth_lockout_after, lockout_s=settings.oauth_lockout_s)


def _view(user) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "scopes": user.scopes, "disabled": user.disabled}


async def _user_create(args, maker, settings) -> dict[str, Any]:
    return _view(await _users(maker, settings).create(args.username, _password(args), args.scope or DEFAULT_SCOPES))


def _user_disabled(disabled: bool):
    async def change(args, maker, settings) -> dict[str, Any]:
        return _view(await _users(maker, settings).set_disabled(args.username, disabled))
    return change


async def _user_reset(args, maker, settings) -> dict[str, Any]:
    return _view(await _users(maker, settings).reset(args.username, _password(args)))


async def _client_create(args, maker, settings) -> dict[str, Any]:
    secret, client = await ClientStore(maker).create(args.name, redirect_uris=args.redirect_uri, scopes=args.scope,
                                                     public=args.public)
    if secret is not None:
        print("The client secret is shown only this once.", file=sys.stderr)
    return {"client_id": client.client_id, "client_secret": secret, "name": client.name,
            "redirect_uris": list(client.redirect_uris), "scopes": list(client.scopes),
            "type": "public" if client.public else "confidential"}


async def _client_disable(args, maker, settings) -> dict[str, Any]:
    if not await ClientStore(maker).disable(args.client_id):
        raise UserError(f"no enabled client {args.client_id}")
    return {"client_id": args.client_id, "disabled": True}


async def _key_rotate(args, maker, settings) -> dict[str, Any]:
    kek = open_kek(settings.kek, create=False)
    try:
        return {"kid": await signing_keys(settings, maker, kek).rotate()}
    finally:
        kek.close()
