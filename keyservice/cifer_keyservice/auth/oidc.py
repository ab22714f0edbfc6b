"""OIDC JWTs (an identity provider's access or ID tokens), verified locally against its JWKS.

A token is accepted when, all checked by PyJWT with a key from the provider's JWKS:
- its `kid` names a signing key of the JWKS, and its `alg` is one of the configured algorithms
  and fits that key (an RSA key for RS*, a P-256 key for ES256, an Ed25519/Ed448 key for EdDSA);
- the signature verifies; `iss` is exactly the configured issuer; `aud` contains the audience;
- `exp` is present and not past, `nbf` and `iat` are not in the future (with `leeway_s`).

The algorithms are fixed by configuration, never by the token, and only asymmetric ones are
allowed: `none` would accept anything, and an HS* token would use the JWKS's *public* key as an
HMAC secret (algorithm confusion). Symmetric (`oct`) JWKS entries are ignored for the same reason.

The JWKS is fetched with aiohttp and cached for `jwks_cache_ttl_s`. A token naming an unknown
`kid` triggers a refetch (a rotated key works without a restart), but at most one fetch per
`jwks_refetch_min_interval_s`: a flood of tokens with made-up kids cannot hammer the provider.

Three outcomes, kept apart so the service can answer each correctly:
- a Principal `oidc:ISSUER#SUBJECT` with the token's scopes that CIFER knows -> the request goes on;
- None: the token is refused (bad signature, expired, another issuer or audience) -> 401;
- OidcUnavailable: the JWKS could not be had (unreachable, not 2xx, malformed, too large) and no
  cached key decides the token -> 503, never 401. A cached key past its TTL is still used while
  the provider is down, so a provider outage does not lock out callers already known.

Tokens are never logged, stored or put in an exception.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from cifer.api.credentials import MAX_TOKEN_CHARS
from cifer.api.schemas import MAX_PRINCIPAL_CHARS  # owner_id columns are String(255)
from cifer_keyservice.auth.principal import Principal
from cifer_keyservice.settings import SCOPES

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 64 * 1024  # a JWKS holds a handful of public keys: a few KB
MIN_RSA_BITS = 2048  # RFC 7518 §3.3
# The key type (and curves) each allowed algorithm verifies with; nothing symmetric, never `none`.
KEY_TYPES: Mapping[str, tuple[str, frozenset[str] | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
_LOOPBACK_NAMES = frozenset({"localhost"})


class OidcUnavailable(Exception):
    """The identity provider's JWKS could not be fetched (unreachable, not 2xx, malformed, too large)."""


@dataclasses.dataclass(frozen=True)
class _Jwks:
    keys: Mapping[tuple[str, str], jwt.PyJWK]  # (kid, alg) -> the key bound to that algorithm
    kids: frozenset[str]
    fetched_at: float  # monotonic seconds


def token_issuer(token: str) -> str | None:
    """The `iss` of a JWT, read WITHOUT verification: only to route a token to the one verifier
    that may check it (OIDC or TokenReview), never to trust it. None if it is not a JWT."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


class OidcVerifier:
    """Verifies an identity provider's JWTs for one issuer and one audience."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks_url: str,
        *,
        algorithms: Sequence[str] = ("RS256", "ES256", "EdDSA"),
        leeway_s: float = 30.0,
        jwks_cache_ttl_s: float = 300.0,
        jwks_refetch_min_interval_s: float = 30.0,
        timeout_s: float = 5.0,
        ca_file: str | None = None,
        scopes_claim: str = "scope",
        principal_claim: str = "sub",
        allowed_scopes: frozenset[str] = SCOPES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`jwks_url` must be https (plain http only on loopback, for tests and development): a
        key injected on the way is a forged identity. `clock` is monotonic seconds, for the cache."""
        if not issuer or not audience:
            raise ValueError("an OIDC verifier needs an issuer and an audience")
        unsafe = [alg for alg in algorithms if alg not in KEY_TYPES]
        if unsafe or not algorithms:
            raise ValueError(f"OIDC algorithms must be asymmetric ({', '.join(KEY_TYPES)}), not {unsafe}")
        url = URL(jwks_url)
        if not (url.scheme == "https" or (url.scheme == "http" and _is_loopback(url.host))):
            raise ValueError("the JWKS URL must be https (http only on loopback)")
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.algorithms = tuple(algorithms)
        self.leeway_s = leeway_s
        self.jwks_cache_ttl_s = jwks_cache_ttl_s
        self.jwks_refetch_min_interval_s = jwks_refetch_min_interval_s
        self.timeout_s = timeout_s
        self.scopes_claim = scopes_claim
        self.principal_claim = principal_claim
        self.allowed_scopes = allowed_scopes
        self._ca_file = ca_file
        self._clock = clock
        self._jwks: _Jwks | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def verify(self, token: str) -> Principal | None:
        """The principal the token proves, or None when it is refused (or not this issuer's).

        Raises OidcUnavailable when the JWKS is needed and cannot be fetched.
        """
        if not token or len(token) > MAX_TOKEN_CHARS or token_issuer(token) != self.issuer:
            return None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms or not isinstance(kid, str):
            return None  # `none`, HS* and anything unconfigured stop here, before any key is looked up
        key = await self._key(kid, alg)
        if key is None:
            return None
        try:  # the one algorithm the key was bound to from configuration, checked against its type
            claims = jwt.decode(
                token, key.key, algorithms=[key.algorithm_name], audience=self.audience, issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError:
            return None
        return self._principal(claims)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> OidcVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ claims

    def _principal(self, claims: dict[str, Any]) -> Principal | None:
        subject = claims.get(self.principal_claim)
        if not isinstance(subject, str) or not subject or not subject.isprintable():
            return None
        principal_id = f"oidc:{self.issuer}#{subject}"
        if len(principal_id) > MAX_PRINCIPAL_CHARS:
            return None
        return Principal(id=principal_id, scopes=self._scopes(claims), kind="oidc")

    def _scopes(self, claims: dict[str, Any]) -> frozenset[str]:
        """The space-separated `scope` claim (RFC 8693), or a list claim `scp` (Azure AD, Okta),
        less anything CIFER does not know."""
        value = claims.get(self.scopes_claim)
        if value is None:
            value = claims.get("scp")
        if isinstance(value, str):
            granted: Iterable[Any] = value.split()
        elif isinstance(value, list):
            granted = value
        else:
            return frozenset()
        return frozenset(s for s in granted if isinstance(s, str)) & self.allowed_scopes

    # ------------------------------------------------------------------ the JWKS

    async def _key(self, kid: str, alg: str) -> jwt.PyJWK | None:
        if self._needs_fetch(kid):
            async with self._lock:  # concurrent requests share one fetch
                if self._needs_fetch(kid) and self._may_fetch():
                    await self._refresh(kid)
        jwks = self._jwks
        if jwks is None:
            raise OidcUnavailable(f"no JWKS from {self.jwks_url} yet; the last fetch failed")
        return jwks.keys.get((kid, alg))

    def _needs_fetch(self, kid: str) -> bool:
        jwks = self._jwks
        return jwks is None or kid not in jwks.kids or self._clock() - jwks.fetched_at >= self.jwks_cache_ttl_s

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self.jwks_refetch_min_interval_s

    async def _refresh(self, kid: str) -> None:
        self._attempted_at = now = self._clock()
        try:
            keys = self._parse(await self._fetch())
        except OidcUnavailable as exc:
            if self._jwks is None or kid not in self._jwks.kids:
                log.warning("JWKS unavailable: %s", exc)
                raise
            log.warning("JWKS unavailable, keeping the keys fetched %.0f s ago: %s",
                        now - self._jwks.fetched_at, exc)
            return
        self._jwks = _Jwks(keys=keys, kids=frozenset(k for k, _ in keys), fetched_at=now)

    async def _fetch(self) -> Any:
        try:
            # No redirects: the configured URL is the one trusted with the keys.
            async with self._get_session().get(self.jwks_url, allow_redirects=False,
                                               headers={"Accept": "application/json"}) as resp:
                if not 200 <= resp.status < 300:
                    raise OidcUnavailable(f"JWKS at {self.jwks_url} answered HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > MAX_JWKS_BYTES:
                    raise OidcUnavailable(f"JWKS at {self.jwks_url} is larger than {MAX_JWKS_BYTES} bytes")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(16 * 1024):
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise OidcUnavailable(f"JWKS at {self.jwks_url} is larger than {MAX_JWKS_BYTES} bytes")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise OidcUnavailable(f"JWKS at {self.jwks_url} failed: {type(exc).__name__}") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise OidcUnavailable(f"JWKS at {self.jwks_url} is not JSON") from None

    def _parse(self, document: Any) -> dict[tuple[str, str], jwt.PyJWK]:
        """Each signing key, bound to every configured algorithm it fits. A key CIFER cannot use
        (no kid, an encryption key, a symmetric or private key, an unknown curve) is skipped; a
        document without a `keys` list is malformed."""
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise OidcUnavailable(f"JWKS at {self.jwks_url} has no `keys` list")
        keys: dict[tuple[str, str], jwt.PyJWK] = {}
        ambiguous: set[tuple[str, str]] = set()
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig" or "d" in entry:  # not for signatures, or a private key
                continue
            for alg in self.algorithms:
                kty, curves = KEY_TYPES[alg]
                if entry.get("kty") != kty or (curves is not None and entry.get("crv") not in curves):
                    continue
                if entry.get("alg", alg) != alg:
                    continue
                try:
                    key = jwt.PyJWK(entry, algorithm=alg)
                except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError):
                    continue  # malformed members (not base64url strings, a point off the curve)
                if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < MIN_RSA_BITS:
                    continue
                slot = (entry["kid"], alg)
                if slot in keys:  # two keys for one kid: trust neither
                    ambiguous.add(slot)
                keys[slot] = key
        for slot in ambiguous:
            del keys[slot]
        return keys

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=self._ca_file)),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            )
        return self._session


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
