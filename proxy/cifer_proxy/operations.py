"""What the sidecar's data operations do, whatever carries them (the REST routes, gRPC): admission
(the credential's scope, the encrypt limit), sealing to a cached public key, releasing a data key
through the key service, opening an envelope. Each transport finds the caller's credential its own
way and writes its own answers; no rule of what is allowed or counted is written twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from aiohttp import web

from cifer.api.endpoints import ENCRYPT
from cifer.api.errors import ApiError, ErrorCode
from cifer.dataprotection import values
from cifer.envelope import Header, Recipient, decrypt, encrypt
from cifer.envelope.format import Incomplete, parse_header
from cifer.exceptions import InvalidCiphertext
from cifer_proxy.keyservice import Released
from cifer_proxy.state import CREDENTIALS, DECAPS, ENCRYPT_LIMIT, METRICS, PUBLIC_KEYS, USAGE


@dataclasses.dataclass(frozen=True)
class Sealed:
    envelope: bytes
    recipient: Recipient


@dataclasses.dataclass(frozen=True)
class Opened:
    plaintext: bytes
    header: Header
    passed: dict[str, str]  # the key service's rate-limit figures for the release


def algorithm(recipient: Recipient) -> dict[str, str]:
    return {"kem": recipient.suite.name, "aead": recipient.suite.aead}


async def admit_encrypt(app: web.Application, credential: str) -> dict[str, str]:
    """403 unless the credential may encrypt (asked of the key service, then remembered), then the
    sidecar's encrypt limit when it has one (429); the X-RateLimit-* figures for the answer."""
    await app[CREDENTIALS].require(credential, ENCRYPT.scope)
    limit = app.get(ENCRYPT_LIMIT)
    return limit.take(credential) if limit is not None else {}


async def seal(app: web.Application, credential: str, cifer_id: str, plaintext: bytes,
               metadata: Mapping[str, str]) -> Sealed:
    """One envelope, sealed here to the cifer's current public key, counted for the usage report."""
    recipient = await app[PUBLIC_KEYS].recipient(cifer_id)
    envelope = encrypt(recipient, plaintext, metadata=dict(metadata))
    app[METRICS].bytes_encrypted.inc(len(plaintext))
    app[USAGE].encrypted(credential, recipient.cifer_id, len(plaintext))
    return Sealed(envelope, recipient)


async def release(app: web.Application, credential: str, header: Header, *, request_id: str,
                  context: Mapping[str, str] | None = None) -> tuple[Released, dict[str, str]]:
    """The header's data key from the key service (sealed to this sidecar, batched with other decrypts
    of the same credential) with its audit record's id, and the rate-limit figures it sent. A 410
    drops the cifer's cached public key; the version seen keeps the cache from an older one."""
    try:
        key, passed = await app[DECAPS].data_key(credential, header.to_bytes(), request_id=request_id,
                                                 context=context)
    except ApiError as err:
        if err.code is ErrorCode.CIFER_REVOKED:
            app[PUBLIC_KEYS].forget(header.cifer_id)
        raise
    app[PUBLIC_KEYS].saw_version(header.cifer_id, header.key_version)
    return key, passed


async def open_envelope(app: web.Application, credential: str, envelope: bytes, *, request_id: str) -> Opened:
    """A whole envelope opened here, its data key released for this call only. An envelope bound to
    seed 001's additional authenticated data opens only through /api/security/decrypt, which has it."""
    try:
        header, _ = parse_header(envelope)
    except Incomplete:
        raise InvalidCiphertext() from None
    values.require_aad(header.metadata, None)
    key, passed = await release(app, credential, header, request_id=request_id)
    try:
        plaintext = decrypt(envelope, lambda _: key.data_key)
    except InvalidCiphertext:  # its data key was released: the payload is what failed
        app[USAGE].payload_failed(credential, header.cifer_id)
        raise
    app[METRICS].bytes_decrypted.inc(len(plaintext))
    return Opened(plaintext, header, passed)
