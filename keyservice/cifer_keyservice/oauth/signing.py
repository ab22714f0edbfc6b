"""The keys that sign access tokens (ES256: ECDSA on P-256 with SHA-256, RFC 7518 §3.4).

Each key's private scalar is stored only wrapped by the KEK, like every private seed; its public
half is published in the JWKS (`GET /oauth/jwks`, named by the metadata's `jwks_uri`). One key
signs at a time. A key that has signed for `rotation_s` is retired: a new one signs from then on,
and the retired one stays in the JWKS for `overlap_s` more (longer than any access token lives),
so every token it signed verifies until it expires. Replicas read the keys from the database
(`refresh`), so a rotation by one reaches the others.
"""

from __future__ import annotations

import base64
import datetime
import secrets
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.keystore.kek import Kek
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import OAuthSigningKey

ALG = "ES256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


def _public_jwk(kid: str, key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y), "kid": kid, "alg": ALG,
            "use": "sig"}


class SigningKeys:
    def __init__(self, sessions: async_sessionmaker, kek: Kek, *, rotation_s: float, overlap_s: float) -> None:
        self._sessions = sessions
        self._kek = kek
        self.rotation_s = rotation_s
        self.overlap_s = overlap_s
        self._current: tuple[str, ec.EllipticCurvePrivateKey] | None = None
        self._published: dict[str, OAuthSigningKey] = {}
        self._verifying: dict[str, ec.EllipticCurvePublicKey] = {}

    async def refresh(self) -> None:
        """Reads the keys; makes a new signing key when none signs or the current one is due."""
        now = utcnow()
        async with self._sessions.begin() as session:
            rows = (await session.execute(select(OAuthSigningKey).where(
                (OAuthSigningKey.expires_at.is_(None)) | (OAuthSigningKey.expires_at > now)))).scalars().all()
            signing = [r for r in rows if r.retired_at is None]
            due = [r for r in signing if r.created_at + datetime.timedelta(seconds=self.rotation_s) <= now]
            if due or not signing:
                for row in signing:  # several replicas may have rotated at once: only the newest signs on
                    row.retired_at, row.expires_at = now, now + datetime.timedelta(seconds=self.overlap_s)
                rows = [*rows, self._new(session, now)]
        self._load(rows)

    async def rotate(self) -> str:
        """Retires the signing key now (it stays published for `overlap_s`); the kid of the new one."""
        now = utcnow()
        async with self._sessions.begin() as session:
            for row in (await session.execute(select(OAuthSigningKey).where(
                    OAuthSigningKey.retired_at.is_(None)))).scalars():
                row.retired_at, row.expires_at = now, now + datetime.timedelta(seconds=self.overlap_s)
            new = self._new(session, now)
        await self.refresh()
        return new.kid

    def _new(self, session, now: datetime.datetime) -> OAuthSigningKey:
        key = ec.generate_private_key(ec.SECP256R1())
        kid = now.strftime("%Y%m%d") + "-" + secrets.token_hex(6)
        row = OAuthSigningKey(kid=kid, alg=ALG, public_jwk=_public_jwk(kid, key.public_key()),
                              wrapped_private_key=self._kek.wrap(key.private_numbers().private_value.to_bytes(32, "big")),
                              kek_id=self._kek.kek_id, created_at=now)
        session.add(row)
        return row

    def _load(self, rows: list[OAuthSigningKey]) -> None:
        signing = max((r for r in rows if r.retired_at is None), key=lambda r: r.created_at)
        if self._current is None or self._current[0] != signing.kid:
            scalar = int.from_bytes(self._kek.unwrap(signing.wrapped_private_key), "big")
            self._current = (signing.kid, ec.derive_private_key(scalar, ec.SECP256R1()))
        self._published = {r.kid: r for r in rows}
        self._verifying = {r.kid: jwt.PyJWK(r.public_jwk, ALG).key for r in rows}

    @property
    def kid(self) -> str:
        assert self._current is not None, "refresh() first"
        return self._current[0]

    def sign(self, claims: Mapping[str, Any]) -> str:
        kid, key = self._current
        return jwt.encode(dict(claims), key, algorithm=ALG, headers={"kid": kid, "typ": TOKEN_TYPE})

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [dict(r.public_jwk) for r in sorted(self._published.values(), key=lambda r: r.created_at)]}

    def verifying_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        """The public key named `kid`, while it is published; None for any other."""
        row = self._published.get(kid)
        if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
            return None
        return self._verifying[kid]
