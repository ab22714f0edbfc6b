"""OAuth 2.0 for user-facing apps (seed 000 §3.1, §3.3; docs/oauth.md): the key service is the
authorization server, and the API accepts the access tokens it signs."""

from __future__ import annotations

import asyncio
import dataclasses

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.keystore.kek import Kek
from cifer_keyservice.audit import AuditLog, Entry
from cifer_keyservice.auth.oidc import token_issuer
from cifer_keyservice.auth.principal import Principal
from cifer_keyservice.oauth.clients import ClientStore
from cifer_keyservice.oauth.consents import Consents
from cifer_keyservice.oauth.logins import Logins
from cifer_keyservice.oauth.server import Server
from cifer_keyservice.oauth.signing import SigningKeys
from cifer_keyservice.oauth.tokens import TokenStore
from cifer_keyservice.oauth.users import UserStore
from cifer_keyservice.settings import SCOPES, KeyServiceSettings

REFRESH_JWKS_S = 60.0  # how soon a replica sees another's key rotation
CLOCK_SKEW_S = 300  # a retired key stays published this much longer than the tokens it signed live


def issuer_of(settings: KeyServiceSettings) -> str:
    if settings.oauth_issuer:
        return settings.oauth_issuer.rstrip("/")
    return f"{'https' if settings.tls else 'http'}://{settings.host}:{settings.port}"


def signing_keys(settings: KeyServiceSettings, sessions: async_sessionmaker, kek: Kek) -> SigningKeys:
    return SigningKeys(sessions, kek, rotation_s=settings.oauth_signing_key_rotation_s,
                       overlap_s=settings.oauth_access_token_ttl_s + CLOCK_SKEW_S)


@dataclasses.dataclass(frozen=True)
class OAuth:
    issuer: str
    users: UserStore
    clients: ClientStore
    tokens: TokenStore
    signing: SigningKeys
    logins: Logins
    consents: Consents
    server: Server
    _sessions: async_sessionmaker
    _audit: AuditLog

    @classmethod
    async def open(cls, settings: KeyServiceSettings, sessions: async_sessionmaker, kek: Kek, audit: AuditLog) -> OAuth:
        issuer = issuer_of(settings)
        signing = signing_keys(settings, sessions, kek)
        await signing.refresh()
        users = UserStore(sessions, lockout_after=settings.oauth_lockout_after, lockout_s=settings.oauth_lockout_s)
        clients = ClientStore(sessions)
        tokens = TokenStore(sessions, signing, issuer=issuer, access_ttl_s=settings.oauth_access_token_ttl_s,
                            refresh_ttl_s=settings.oauth_refresh_token_ttl_s, code_ttl_s=settings.oauth_code_ttl_s)
        return cls(issuer, users, clients, tokens, signing, Logins(sessions, ttl_s=settings.oauth_login_ttl_s),
                   Consents(sessions), Server(asyncio.get_running_loop(), clients, users, tokens),
                   sessions, audit)

    async def record(self, entry: Entry) -> None:
        """An audit record of the authorization server (logins, tokens, replays, revocations)."""
        async with self._sessions.begin() as session:
            await self._audit.append(session, entry)

    async def principal(self, token: str) -> Principal | None:
        """The caller an access token of this server names; None for any other token (not ours:
        another authenticator may know it), and for one of ours that is invalid."""
        if token_issuer(token) != self.issuer:
            return None
        claims = await self.tokens.access(token)
        if claims is None:
            return None
        return Principal(id=claims.subject, scopes=claims.scopes & SCOPES, kind="oauth")


OAUTH = web.AppKey("oauth", OAuth)
