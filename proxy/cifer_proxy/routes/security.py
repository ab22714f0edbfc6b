"""Seed 001's data encryption (docs/security-api.md): `/api/security/encrypt`, `/decrypt` and
`/encrypt/batch`, sealed and opened here in the pod like /v1/encrypt and /v1/decrypt, with the same
credentials, cached public keys and key release. `cifer.dataprotection` holds what a value becomes;
this module holds the seed's request and response shapes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import datetime
import hashlib
from typing import Any

from aiohttp import web

from cifer.api import parsing, response
from cifer.api import security_schemas as sec
from cifer.api.endpoints import SECURITY_DECRYPT, SECURITY_ENCRYPT, route
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.parsing import invalid
from cifer.api.response import REQUEST_ID
from cifer.api.timestamps import iso
from cifer.dataprotection import fields, values
from cifer.dataprotection.keytypes import DATA_TYPES
from cifer.envelope import Recipient, decrypt, encrypt
from cifer.envelope.format import Incomplete, parse_header
from cifer.exceptions import InvalidCiphertext
from cifer_proxy import bodies, operations
from cifer_proxy.routes import encrypt as v1_encrypt
from cifer_proxy.state import IDENTITY, KEY_VIEWS, KEYSERVICE, METRICS, PUBLIC_KEYS, SETTINGS, USAGE

routes = web.RouteTableDef()
ENCRYPT_FIELDS = set(sec.ENCRYPT["properties"])
CONTEXT_FIELDS = set(sec.CONTEXT["properties"])
MAX_CONTEXT_CHARS = sec.CONTEXT["properties"]["purpose"]["maxLength"]
FIELD_PREFIX = "cifer:v1:"  # a sealed field's value: this, then its envelope in base64


@dataclasses.dataclass(frozen=True)
class EncryptRequest:
    data: Any
    data_type: str
    user_id: str
    context: dict[str, str]
    compression: bool
    aad: str | None
    key_id: str | None
    fields: list[tuple[str, ...]] | None


def _core(error: values.UnsealableValue) -> ApiError:
    return invalid(error.field, error.problem)


def encrypt_request(body: dict[str, Any], prefix: str = "") -> EncryptRequest:
    """An encryption as the seed spells it (and as each batch operation does, under `prefix`)."""
    parsing.refuse_unknown(body, ENCRYPT_FIELDS, prefix)
    if "data" not in body:
        raise invalid(prefix + "data", "is required: a string or a JSON object")
    data_type = body.get("dataType")
    if not isinstance(data_type, str) or data_type not in DATA_TYPES:
        raise invalid(prefix + "dataType", f"must be one of {', '.join(DATA_TYPES)}")
    context = body.get("context", {})
    if not isinstance(context, dict) or not all(isinstance(v, str) and len(v) <= MAX_CONTEXT_CHARS
                                                for v in context.values()):
        raise invalid(prefix + "context", f"must be an object of strings of at most {MAX_CONTEXT_CHARS} characters")
    parsing.refuse_unknown(context, CONTEXT_FIELDS, prefix + "context.")
    if context.get("classification", "confidential") not in sec.CONTEXT["properties"]["classification"]["enum"]:
        raise invalid(prefix + "context.classification", "must be confidential or restricted")
    compression = body.get("compression", False)
    if not isinstance(compression, bool):
        raise invalid(prefix + "compression", "must be true or false")
    key_id = parsing.cifer_id(body["keyId"], prefix + "keyId") if "keyId" in body else None
    try:
        aad = values.check_aad(body.get("additionalAuthenticatedData"), prefix + "additionalAuthenticatedData")
        chosen = fields.chosen(body["fields"], prefix + "fields") if "fields" in body else None
    except values.UnsealableValue as err:
        raise _core(err) from None
    return EncryptRequest(body["data"], data_type, parsing.user_id(body.get("userId"), prefix + "userId"), context,
                          compression, aad, key_id, chosen)


async def chosen_key(app: web.Application, credential: str, asked: EncryptRequest) -> tuple[dict[str, Any], Recipient]:
    """The key the request goes to (seed 001 view) and its public key: `keyId`, else the user's
    newest active key of the type that serves the data type (cifer.dataprotection.keytypes)."""
    key_type = DATA_TYPES[asked.data_type]
    query = (asked.key_id,) if asked.key_id else (asked.user_id, key_type)
    found = await app[KEY_VIEWS].find(query, lambda: app[KEYSERVICE].find_keys(
        credential, key_id=asked.key_id, user_id=asked.user_id, key_type=key_type))
    if asked.key_id is None:
        found = [key for key in found if key.get("status") == "active"]
    if not found:
        raise ApiError(ErrorCode.NOT_FOUND, f"no active {key_type} key for user {asked.user_id}",
                       {"userId": asked.user_id, "keyType": key_type, **({"keyId": asked.key_id} if asked.key_id else {})})
    key = found[0]
    if key.get("userId") not in (None, asked.user_id):
        raise invalid("keyId", "is another user's key")
    if key.get("status") == "expired":  # as the key service judged it just now; it still decrypts
        raise ApiError(ErrorCode.FORBIDDEN, "this key has expired: it still decrypts but no longer encrypts",
                       {"keyId": key["keyId"], "expiresAt": key.get("expiresAt")})
    try:
        recipient = await app[PUBLIC_KEYS].recipient(key["keyId"])  # 403 once expired, 410 once revoked
    except ApiError:
        app[KEY_VIEWS].forget(key["keyId"])
        raise
    return key, recipient


def usage_labels(asked: EncryptRequest) -> dict[str, str]:
    """What the usage figures and the key service's encrypt records say of an encryption's data."""
    labels = {"data_type": asked.data_type, "user_id": asked.user_id}
    if asked.context.get("purpose"):
        labels["purpose"] = asked.context["purpose"]
    return labels


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seal(recipient: Recipient, asked: EncryptRequest, serialized: tuple[bytes, str], *,
         field: str | None = None) -> bytes:
    """One envelope of a value `values.serialize` made bytes of."""
    extra = {values.DATA_TYPE: asked.data_type, values.USER_ID: asked.user_id}
    if field is not None:
        extra[values.FIELD] = field
    sealable = values.prepare_serialized(*serialized, compression=asked.compression, aad=asked.aad, extra=extra)
    return encrypt(recipient, sealable.plaintext, metadata=sealable.metadata)


def encrypted(key: dict[str, Any], recipient: Recipient, asked: EncryptRequest) -> tuple[dict[str, Any], int]:
    """The seed's EncryptDataResponse, and the plaintext bytes sealed."""
    serialized = _serialized(asked.data)
    original = serialized[0]
    if asked.fields is None:
        envelope = seal(recipient, asked, serialized)
        value: Any = _b64(envelope)
        first, sealed_bytes = envelope, envelope
    else:
        envelopes: list[bytes] = []

        def sealed_field(path: tuple[str, ...], inner: Any) -> str:
            envelope = seal(recipient, asked, _serialized(inner), field=fields.spelled(path))
            envelopes.append(envelope)
            return FIELD_PREFIX + _b64(envelope)

        try:
            value = fields.replace(asked.data, asked.fields, sealed_field)
        except values.UnsealableValue as err:
            raise _core(err) from None
        first = envelopes[0]
        sealed_bytes, _ = _serialized(value)
    out: dict[str, Any] = {
        "value": value, "keyId": recipient.cifer_id, "keyVersion": str(recipient.key_version),
        "algorithm": recipient.suite.aead, "iv": _b64(parse_header(first)[0].message_id), "authTag": _b64(first[-16:]),
        "compressionUsed": asked.compression,
        "encryptionMetadata": {
            "timestamp": iso(datetime.datetime.now(datetime.UTC)), "dataSize": len(original),
            "encryptedSize": len(sealed_bytes), "checksumOriginal": _sha256(original),
            "checksumEncrypted": _sha256(sealed_bytes)},
    }
    if asked.fields is not None:
        out["fields"] = [fields.spelled(path) for path in asked.fields]
    metadata = key.get("metadata") or {}
    return {"encryptedData": out, "compliance": {
        "dataClassification": asked.context.get("classification") or metadata.get("dataClassification") or "unclassified",
        "retentionPolicy": asked.context.get("retention") or "unspecified",
        "auditRequired": True,  # every decryption of a CIFER envelope is recorded by the key service
        "regulations": list((key.get("compliance") or {}).get("regulations", [])),
    }}, len(original)


def _serialized(data: Any) -> tuple[bytes, str]:
    try:
        return values.serialize(data)
    except values.UnsealableValue as err:
        raise _core(err) from None


@route(routes, SECURITY_ENCRYPT)
async def encrypt_data(request: web.Request) -> web.Response:
    credential, limited = await v1_encrypt.authorize(request)
    asked = encrypt_request(await bodies.json_object(request, ENCRYPT_FIELDS))
    key, recipient = await chosen_key(request.app, credential, asked)
    answer, size = encrypted(key, recipient, asked)
    request.app[METRICS].bytes_encrypted.inc(size)
    request.app[USAGE].encrypted(credential, recipient.cifer_id, size, usage_labels(asked))
    resp = response.ok(request, answer)
    resp.headers.update(limited)
    return resp


@dataclasses.dataclass(frozen=True)
class DecryptRequest:
    value: Any
    key_id: str
    key_version: str
    algorithm: str
    compression: bool | None
    fields: list[str] | None
    user_id: str
    purpose: str
    aad: str | None


def decrypt_request(body: dict[str, Any]) -> DecryptRequest:
    sealed = body.get("encryptedData")
    if not isinstance(sealed, dict):
        raise invalid("encryptedData", "is required: the encryptedData object /api/security/encrypt answered")
    parsing.refuse_unknown(sealed, set(sec.ENCRYPTED_DATA["properties"]), "encryptedData.")
    for name in ("keyId", "keyVersion", "algorithm"):
        if not isinstance(sealed.get(name), str):
            raise invalid(f"encryptedData.{name}", "is required: a string")
    compression = sealed.get("compressionUsed")
    if compression is not None and not isinstance(compression, bool):
        raise invalid("encryptedData.compressionUsed", "must be true or false")
    chosen = sealed.get("fields")
    if chosen is not None and (not isinstance(chosen, list) or not all(isinstance(f, str) for f in chosen)):
        raise invalid("encryptedData.fields", "must be the list of fields /api/security/encrypt answered")
    purpose = body.get("accessPurpose")
    if not isinstance(purpose, str) or not 0 < len(purpose) <= sec.MAX_PURPOSE_CHARS:
        raise invalid("accessPurpose", f"is required: why the data is read, 1 to {sec.MAX_PURPOSE_CHARS} characters")
    try:
        aad = values.check_aad(body.get("additionalAuthenticatedData"))
    except values.UnsealableValue as err:
        raise _core(err) from None
    return DecryptRequest(sealed.get("value"), sealed["keyId"], sealed["keyVersion"], sealed["algorithm"], compression,
                          chosen, parsing.user_id(body.get("userId")), purpose, aad)


def _envelope(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise invalid(field, "must be a base64 envelope")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise invalid(field, "is not valid base64") from None


def _check_header(envelope: bytes, asked: DecryptRequest, field: str | None):
    """The envelope's header, once it agrees with what the request says of it (400 naming the
    field otherwise) and was sealed with the request's AAD (400 INVALID_CIPHERTEXT otherwise)."""
    try:
        header, _ = parse_header(envelope)
    except Incomplete:
        raise InvalidCiphertext() from None
    for name, said, actual in (("keyId", asked.key_id, header.cifer_id),
                               ("keyVersion", asked.key_version, str(header.key_version)),
                               ("algorithm", asked.algorithm, header.suite.aead)):
        if said != actual:
            raise invalid(f"encryptedData.{name}", f"does not match the envelope ({actual})")
    compressed = values.COMPRESSION in header.metadata
    if asked.compression is not None and asked.compression != compressed:
        raise invalid("encryptedData.compressionUsed", f"does not match the envelope ({str(compressed).lower()})")
    if header.metadata.get(values.USER_ID, asked.user_id) != asked.user_id:
        raise invalid("userId", "is not the user this data was encrypted for")
    if header.metadata.get(values.FIELD) != field:
        raise InvalidCiphertext("this envelope belongs to another field")
    values.require_aad(header.metadata, asked.aad)
    return header


async def _open(request: web.Request, credential: str, asked: DecryptRequest, envelope: bytes,
                field: str | None) -> tuple[Any, bool, dict[str, str], str]:
    """The value in one envelope, whether it was decompressed, the rate-limit headers and the id of
    the audit record of its key's release (which names the purpose and the user)."""
    header = _check_header(envelope, asked, field)
    released, passed = await operations.release(request.app, credential, header, request_id=request[REQUEST_ID],
                                                context={"purpose": asked.purpose, "user_id": asked.user_id})
    try:
        plaintext = decrypt(envelope, lambda _: released.data_key)
    except InvalidCiphertext:  # its data key was released: the payload is what failed
        request.app[USAGE].payload_failed(credential, header.cifer_id)
        raise
    request.app[METRICS].bytes_decrypted.inc(len(plaintext))
    value, decompressed = values.restore(plaintext, header.metadata, max_bytes=request.app[SETTINGS].max_json_body_bytes)
    return value, decompressed, passed, released.audit_record_id


@route(routes, SECURITY_DECRYPT)
async def decrypt_data(request: web.Request) -> web.Response:
    credential = request.app[IDENTITY].required(request)  # none is a 401 whatever the body
    asked = decrypt_request(await bodies.json_object(
        request, {"encryptedData", "userId", "accessPurpose", "additionalAuthenticatedData"}))
    failed: list[dict[str, Any]] = []
    if asked.fields is None:
        data, decompressed, passed, record_id = await _open(request, credential, asked,
                                                            _envelope(asked.value, "encryptedData.value"), None)
        records = [record_id]
    else:
        data, decompressed, passed, records = await _open_fields(request, credential, asked, failed)
    meta: dict[str, Any] = {"timestamp": iso(datetime.datetime.now(datetime.UTC)), "keyUsed": asked.key_id,
                            "dataIntegrityVerified": not failed, "decompressionApplied": decompressed}
    if asked.fields is not None:
        meta["failedFields"] = failed
    resp = response.ok(request, {
        "data": data, "decryptionMetadata": meta,
        "accessLogged": True,  # a data key leaves the key service only once its audit record committed
        "compliance": {"auditRecordId": ",".join(records),
                       "dataAccess": {"purpose": asked.purpose, "authorized": True, "consentVerified": False}},
    })
    resp.headers.update(passed)
    return resp


async def _open_fields(request: web.Request, credential: str, asked: DecryptRequest,
                       failed: list[dict[str, Any]]) -> tuple[Any, bool, dict[str, str], list[str]]:
    """Opens each listed field on its own; what cannot be opened stays sealed and is named in `failed`."""
    if not isinstance(asked.value, dict):
        raise invalid("encryptedData.value", "must be the object /api/security/encrypt answered for fields")
    try:
        paths = fields.chosen(asked.fields, "encryptedData.fields")
        found: dict[tuple[str, ...], Any] = {}
        sealed = fields.replace(asked.value, paths, found.setdefault, "encryptedData.fields")  # each exists
    except values.UnsealableValue as err:
        raise _core(err) from None
    envelopes = []
    for path in paths:
        pointer, inner = fields.spelled(path), found[path]
        if not isinstance(inner, str) or not inner.startswith(FIELD_PREFIX):
            raise invalid("encryptedData.value", f"{pointer} is not a sealed field")
        envelopes.append(_envelope(inner[len(FIELD_PREFIX):], f"encryptedData.value{pointer}"))
    # Together: their key releases leave in one batched call.
    outcomes = await asyncio.gather(*(_open(request, credential, asked, envelope, fields.spelled(path))
                                      for path, envelope in zip(paths, envelopes)), return_exceptions=True)
    opened: dict[tuple[str, ...], Any] = {}
    decompressed, passed, records = False, {}, []
    for path, outcome in zip(paths, outcomes):
        if isinstance(outcome, InvalidCiphertext):
            outcome = ApiError(ErrorCode.INVALID_CIPHERTEXT)
        if isinstance(outcome, ApiError) and outcome.code.status < 500 and outcome.code is not ErrorCode.RATE_LIMIT_EXCEEDED:
            failed.append({"field": fields.spelled(path), "error": {"code": outcome.code.name,
                                                                     "message": outcome.message}})
        elif isinstance(outcome, BaseException):
            raise outcome  # the whole request failed (503, 429): as it would for one envelope
        else:
            opened[path], was_compressed, passed, record_id = outcome
            decompressed = decompressed or was_compressed
            records.append(record_id)
    data = fields.replace(sealed, list(opened), lambda path, inner: opened[path])
    return data, decompressed, passed, records

