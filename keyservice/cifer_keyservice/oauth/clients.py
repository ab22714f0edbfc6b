"""OAuth 2.0 clients: the applications that may send users to the authorization page or ask for
tokens with their own credentials. `cifer keyservice oauth-client create`.

- A **confidential** client has a secret, shown once at creation and kept only as its SHA-256
  (32 random bytes: nothing to brute-force, as with API keys). It authenticates by
  `client_secret_basic` or `client_secret_post`, may use `client_credentials`, and may use PKCE.
- A **public** client (a browser or mobile app) has no secret: it authenticates as `none` and
  must use PKCE with S256 (oauth/server.py).

Redirect URIs are matched exactly, as registered (RFC 9700 §4.1.3): no prefix, no wildcard. A
client's tokens carry no scope it was not registered with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Iterable

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import OAuthClient
from cifer_keyservice.oauth.users import UserError, check_scopes

SECRET_PREFIX = "cs_"
MAX_REDIRECT_URIS = 16
MAX_REDIRECT_URI_CHARS = 2048
CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post")


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def check_redirect_uri(uri: str) -> str:
    """An absolute https URI, or http on loopback (RFC 8252 §7.3, native apps and development),
    without a fragment (RFC 6749 §3.1.2)."""
    parts = urllib.parse.urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if (len(uri) > MAX_REDIRECT_URI_CHARS or parts.fragment or not parts.hostname
            or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))):
        raise UserError(f"redirect URI {uri[:80]!r}: must be https (or http on loopback), without a fragment")
    return uri


@dataclasses.dataclass(frozen=True)
class Client(ClientMixin):
    """A registered client, as authlib's grants ask about it."""

    client_id: str
    name: str
    secret_hash: bytes | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]

    @classmethod
    def of(cls, row: OAuthClient) -> Client:
        return cls(row.client_id, row.name, row.secret_hash, tuple(row.redirect_uris), tuple(row.scopes))

    @property
    def public(self) -> bool:
        return self.secret_hash is None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only a client with one URI may leave it out of a request: with several, which one is meant is unknown.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes the client was registered with; none requested: all of them."""
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(hmac.compare_digest(redirect_uri.encode(), known.encode()) for known in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and hmac.compare_digest(_hash(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Every endpoint alike (token and revocation): a confidential client is never `none`.
        return method == "none" if self.public else method in CONFIDENTIAL_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and bool(self.redirect_uris)

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type in ("authorization_code", "refresh_token"):
            return bool(self.redirect_uris)
        return grant_type == "client_credentials" and not self.public


class ClientStore:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def create(self, name: str, *, redirect_uris: Iterable[str], scopes: Iterable[str],
                     public: bool) -> tuple[str | None, Client]:
        """The secret (None for a public client; shown once, never stored) and the client."""
        uris = list(dict.fromkeys(check_redirect_uri(u) for u in redirect_uris))
        if not 1 <= len(name) <= 128:
            raise UserError("a client's name is 1 to 128 characters")
        if len(uris) > MAX_REDIRECT_URIS or (public and not uris):
            raise UserError(f"a client has at most {MAX_REDIRECT_URIS} redirect URIs; a public one at least one")
        secret = None if public else SECRET_PREFIX + secrets.token_urlsafe(32)
        row = OAuthClient(client_id="cli_" + secrets.token_hex(12), name=name,
                          secret_hash=None if secret is None else _hash(secret), redirect_uris=uris,
                          scopes=check_scopes(scopes), created_at=utcnow())
        async with self._sessions.begin() as session:
            session.add(row)
        return secret, Client.of(row)

    async def get(self, client_id: str) -> Client | None:
        """An enabled client; None for an unknown or disabled one."""
        if not 1 <= len(client_id) <= 40:
            return None
        async with self._sessions.begin() as session:
            row = await session.get(OAuthClient, client_id)
        return None if row is None or row.disabled_at is not None else Client.of(row)

    async def disable(self, client_id: str) -> bool:
        async with self._sessions.begin() as session:
            row = await session.get(OAuthClient, client_id)
            if row is None or row.disabled_at is not None:
                return False
            row.disabled_at = utcnow()
            return True
