"""Grants, codes and tokens of the authorization server, in the database.

A **grant** is what one authorization code, or one `client_credentials` request, started; every
token it leads to names it (an access token's `sid`, a refresh token's `grant_id`), so revoking
it ends them all at once:
- a code used a second time revokes the grant of its first use (RFC 6749 §4.1.2);
- a refresh token used again after it was rotated revokes its grant (RFC 9700 §4.14.2);
- revoking any token (RFC 7009) revokes its grant.

**Access tokens** are JWTs in RFC 9068's profile (`typ: at+jwt`), signed by oauth/signing.py:
`iss` the issuer, `aud` "cifer" (the CIFER API), `sub` the user (`usr_...`), or the client for
`client_credentials`; `client_id`, `scope`, `iat`, `exp`, `jti`, `auth_time` after a login, and
`sid` the grant. They live `access_ttl_s`. **Refresh tokens** are opaque (`rt_` and 256 random
bits), known here only by their SHA-256, and rotated at each use. **Codes** are 256 random bits,
known by their SHA-256, used once, within `code_ttl_s`.

Every lookup and change is one statement that decides it (a conditional UPDATE), so two requests
racing with one code or one refresh token cannot both win.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import secrets
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import OAuthCode, OAuthGrant, OAuthRefreshToken
from cifer_keyservice.oauth.signing import ALG, TOKEN_TYPE, SigningKeys

AUDIENCE = "cifer"
REFRESH_PREFIX = "rt_"
MAX_TOKEN_CHARS = 4096


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclasses.dataclass(frozen=True)
class Issued:
    """What the token endpoint answers (RFC 6749 §5.1), and the grant it belongs to."""

    grant_id: str
    body: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class AccessClaims:
    subject: str
    client_id: str
    scopes: frozenset[str]
    grant_id: str
    expires_at: int


class Replayed(Exception):
    """A code or refresh token was used again: its grant is revoked (`grant_id`)."""

    def __init__(self, grant_id: str, what: str) -> None:
        super().__init__(what)
        self.grant_id = grant_id
        self.what = what


class TokenStore:
    def __init__(self, sessions: async_sessionmaker, signing: SigningKeys, *, issuer: str, access_ttl_s: int,
                 refresh_ttl_s: int, code_ttl_s: int) -> None:
        self._sessions = sessions
        self.signing = signing
        self.issuer = issuer
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self.code_ttl_s = code_ttl_s

    # ------------------------------------------------------------------ grants and codes

    async def new_grant(self, client_id: str, user_id: str | None, scope: str, *, lasts_s: int) -> str:
        now = utcnow()
        grant = OAuthGrant(id="grt_" + secrets.token_hex(12), client_id=client_id, user_id=user_id, scope=scope,
                           created_at=now, expires_at=now + datetime.timedelta(seconds=lasts_s))
        async with self._sessions.begin() as session:
            session.add(grant)
        return grant.id

    async def new_code(self, *, client_id: str, user_id: str, redirect_uri: str, scope: str,
                       challenge: str | None, method: str | None, auth_time: datetime.datetime) -> str:
        code = secrets.token_urlsafe(32)
        grant_id = await self.new_grant(client_id, user_id, scope, lasts_s=self.refresh_ttl_s)
        async with self._sessions.begin() as session:
            session.add(OAuthCode(code_hash=digest(code), grant_id=grant_id, client_id=client_id, user_id=user_id,
                                  redirect_uri=redirect_uri, scope=scope, code_challenge=challenge,
                                  code_challenge_method=method, auth_time=auth_time,
                                  expires_at=utcnow() + datetime.timedelta(seconds=self.code_ttl_s)))
        return code

    async def take_code(self, code: str, client_id: str) -> OAuthCode | None:
        """The code's record, now used; None if unknown, expired or another client's. Replayed if
        it was used before: its grant, and every token of it, is revoked."""
        if len(code) > MAX_TOKEN_CHARS:
            return None
        now, code_hash = utcnow(), digest(code)
        async with self._sessions.begin() as session:
            taken = await session.execute(update(OAuthCode).where(
                OAuthCode.code_hash == code_hash, OAuthCode.used_at.is_(None), OAuthCode.expires_at > now,
                OAuthCode.client_id == client_id).values(used_at=now))
            row = await session.get(OAuthCode, code_hash)
        if row is None or row.client_id != client_id:
            return None
        if taken.rowcount == 1:
            return row
        if row.used_at is not None:
            await self.revoke_grant(row.grant_id, "code_replayed")
            raise Replayed(row.grant_id, "authorization code")
        return None  # expired

    # ------------------------------------------------------------------ tokens

    async def issue(self, *, grant_id: str, client_id: str, user_id: str | None, scope: str,
                    auth_time: datetime.datetime | None, refresh: bool) -> Issued:
        now = utcnow()
        claims = {"iss": self.issuer, "aud": AUDIENCE, "sub": user_id or client_id, "client_id": client_id,
                  "scope": scope, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + self.access_ttl_s,
                  "jti": secrets.token_urlsafe(16), "sid": grant_id}
        if auth_time is not None:
            claims["auth_time"] = int(auth_time.timestamp())
        body: dict[str, Any] = {"access_token": self.signing.sign(claims), "token_type": "Bearer",
                                "expires_in": self.access_ttl_s, "scope": scope}
        if refresh and user_id is not None:
            token = REFRESH_PREFIX + secrets.token_urlsafe(32)
            async with self._sessions.begin() as session:
                session.add(OAuthRefreshToken(token_hash=digest(token), grant_id=grant_id, client_id=client_id,
                                              user_id=user_id, scope=scope, issued_at=now,
                                              expires_at=now + datetime.timedelta(seconds=self.refresh_ttl_s)))
                await session.execute(update(OAuthGrant).where(OAuthGrant.id == grant_id).values(
                    expires_at=now + datetime.timedelta(seconds=self.refresh_ttl_s)))
            body["refresh_token"] = token
        return Issued(grant_id, body)

    async def take_refresh(self, token: str, client_id: str) -> OAuthRefreshToken | None:
        """The refresh token's record, now rotated out (its successor is issued next); None if
        unknown, expired, another client's or its grant is revoked. Replayed if it was rotated
        out before: its grant is revoked."""
        if not token.startswith(REFRESH_PREFIX) or len(token) > MAX_TOKEN_CHARS:
            return None
        now, token_hash = utcnow(), digest(token)
        async with self._sessions.begin() as session:
            row = await session.get(OAuthRefreshToken, token_hash)
            if row is None or row.client_id != client_id or row.expires_at <= now:
                return None
            grant = await session.get(OAuthGrant, row.grant_id)
            if grant is None or grant.revoked_at is not None:
                return None
            taken = await session.execute(update(OAuthRefreshToken).where(
                OAuthRefreshToken.token_hash == token_hash, OAuthRefreshToken.rotated_at.is_(None)).values(
                rotated_at=now))
        if taken.rowcount == 1:
            return row
        await self.revoke_grant(row.grant_id, "refresh_token_reused")
        raise Replayed(row.grant_id, "refresh token")

    async def revoke_grant(self, grant_id: str, reason: str) -> bool:
        """True if this revoked it (False: unknown, or revoked before)."""
        async with self._sessions.begin() as session:
            done = await session.execute(update(OAuthGrant).where(
                OAuthGrant.id == grant_id, OAuthGrant.revoked_at.is_(None)).values(
                revoked_at=utcnow(), revoked_reason=reason))
        return done.rowcount == 1

    async def grant_of_refresh(self, token: str) -> OAuthRefreshToken | None:
        if not token.startswith(REFRESH_PREFIX) or len(token) > MAX_TOKEN_CHARS:
            return None
        async with self._sessions.begin() as session:
            return await session.get(OAuthRefreshToken, digest(token))

    # ------------------------------------------------------------------ verification

    def verified_claims(self, token: str, *, allow_expired: bool = False) -> dict[str, Any] | None:
        """The claims of an access token this service signed, with a key it still publishes, for
        the CIFER API, not expired (unless `allow_expired`: revocation takes expired tokens too);
        None for anything else. The grant is not looked at here."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            header = jwt.get_unverified_header(token)
            key = self.signing.verifying_key(header.get("kid")) if isinstance(header.get("kid"), str) else None
            if key is None or header.get("typ") != TOKEN_TYPE or header.get("alg") != ALG:
                return None
            claims = jwt.decode(token, key, algorithms=[ALG], audience=AUDIENCE, issuer=self.issuer,
                                options={"verify_exp": False, "verify_iat": False,
                                         "require": ["iss", "aud", "sub", "exp", "iat", "jti", "client_id", "sid"]})
        except jwt.PyJWTError:
            return None
        now = utcnow().timestamp()  # the service's clock (tests move it), not PyJWT's
        if not all(isinstance(claims[c], str) for c in ("sub", "client_id", "sid")) or not isinstance(
                claims.get("scope", ""), str) or not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
            return None
        if claims["iat"] > now + 60 or (claims["exp"] <= now and not allow_expired):
            return None
        return claims

    async def access(self, token: str) -> AccessClaims | None:
        """A valid access token's claims, if its grant stands; None otherwise."""
        claims = self.verified_claims(token)
        if claims is None:
            return None
        async with self._sessions.begin() as session:
            revoked = (await session.execute(select(OAuthGrant.revoked_at).where(
                OAuthGrant.id == claims["sid"]))).first()
        if revoked is None or revoked[0] is not None:
            return None
        return AccessClaims(claims["sub"], claims["client_id"], frozenset(claims.get("scope", "").split()),
                            claims["sid"], claims["exp"])
