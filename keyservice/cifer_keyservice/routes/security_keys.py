"""Seed 001's key management at /api/security/keys (docs/security-api.md): cifers under the
seed's names. A key is a cifer named `keyType:userId`; its id is the seed's `keyId`, its version
the `keyVersion`, its payload AEAD the `algorithm`. Generation, rotation and revocation are the
cifer service's, with their audit records, events and rules."""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web

from cifer.api import parsing, response
from cifer.api import security_schemas as sec
from cifer.api.endpoints import (SECURITY_FIND_KEYS, SECURITY_GENERATE_KEY, SECURITY_GET_KEY, SECURITY_REVOKE_KEY,
                                 SECURITY_ROTATE_KEY, route)
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.parsing import cifer_id as parse_cifer_id
from cifer.api.parsing import integer, invalid, json_object, refuse_unknown, string
from cifer.api.schemas import AEADS
from cifer.api.timestamps import iso
from cifer.dataprotection import compliance
from cifer.dataprotection.keytypes import KEY_TYPES, KEY_USAGES, key_name
from cifer_keyservice.audit_query import AuditQuery
from cifer_keyservice.bodies import principals, purposes, string_map
from cifer_keyservice.clock import utcnow
from cifer_keyservice.records import CiferRecord, CreateCifer, Policy, RotateCifer
from cifer_keyservice.routes.common import caller
from cifer_keyservice.security_config import Config
from cifer_keyservice.state import CIFERS, SECURITY_CONFIG, SESSIONS, SETTINGS

routes = web.RouteTableDef()
MAX_KEYS_FOUND = 20
CBC_REFUSED = ("AES-256-CBC is refused: it has no integrity, so a changed ciphertext decrypts to changed data "
               "unnoticed; use AES-256-GCM or ChaCha20-Poly1305")
_KEY_METADATA = ("purpose", "dataClassification", "regulatoryRequirement")


def one_of(body: dict[str, Any], field: str, allowed: Any, default: Any = None) -> Any:
    """One of the `allowed` strings."""
    value = body.get(field, default)
    if not isinstance(value, str) or value not in allowed:
        raise invalid(field, f"must be one of {', '.join(map(str, allowed))}")
    return value


def confirmed_version(code: str, key_id: str) -> int:
    """The key version a `confirmationCode` (`<keyId>:<keyVersion>`) names: the caller read the key
    first, and the revocation happens only while that version is still current."""
    named, _, version = code.rpartition(":")
    if named != key_id or not version.isdecimal() or len(version) > 10:
        raise invalid("confirmationCode", "must be <keyId>:<keyVersion>, the key's current version as read first")
    return int(version)


def status_of(key: CiferRecord, now: datetime.datetime) -> str:
    if key.status == "revoked":
        return "revoked"
    return "expired" if key.expires_at is not None and key.expires_at <= now else "active"


def key_view(key: CiferRecord, kek_id: str, now: datetime.datetime) -> dict[str, Any]:
    """A cifer as seed 001's GenerateKeyResponse reads it."""
    provider, _, _ = kek_id.partition(":")
    return {
        "keyId": key.cifer_id, "keyVersion": str(key.key_version), "algorithm": key.aead,
        "keyUsage": key.metadata.get("keyUsage", "both"), "createdAt": iso(key.created_at),
        "expiresAt": iso(key.expires_at), "status": status_of(key, now), "kmsProvider": provider, "keyArn": kek_id,
        "userId": key.metadata.get("userId"), "keyType": key.metadata.get("keyType"),
        "metadata": {name: key.metadata[name] for name in _KEY_METADATA if name in key.metadata},
        "compliance": {
            "fipsValidated": False,  # cifer.dataprotection.compliance: no KEK here is a validated module
            "nistCompliant": compliance.nist_compliant(key.aead),
            "regulations": compliance.regulations(key.metadata.get("regulatoryRequirement")),
        },
    }


def generate_request(body: dict[str, Any], *, suite: str, now: datetime.datetime, config: Config) -> CreateCifer:
    """`config` gives the algorithm of a request naming none, and new keys' rotation (security_config.py)."""
    refuse_unknown(body, {"userId", "keyType", "algorithm", "keyUsage", "expirationDays", "metadata",
                          "allowedPrincipals", "allowedPurposes"})
    user = parsing.user_id(body.get("userId"))
    key_type = one_of(body, "keyType", KEY_TYPES)
    if body.get("algorithm") == "AES-256-CBC":
        raise invalid("algorithm", CBC_REFUSED)
    aead = one_of(body, "algorithm", AEADS, default=config.settings["defaultAlgorithm"])
    usage = one_of(body, "keyUsage", KEY_USAGES)
    days = integer(body, "expirationDays", low=1, high=sec.MAX_EXPIRATION_DAYS, default=sec.DEFAULT_EXPIRATION_DAYS)
    extra = body.get("metadata", {})
    if not isinstance(extra, dict):
        raise invalid("metadata", "must be an object")
    refuse_unknown(extra, _KEY_METADATA, "metadata.")
    if "dataClassification" in extra:
        one_of(extra, "dataClassification", ("public", "internal", "confidential", "restricted"))
    metadata = string_map({**extra, "userId": user, "keyType": key_type, "keyUsage": usage}, "metadata")
    return CreateCifer(
        name=key_name(key_type, user), description=string(extra, "purpose", max_chars=1000, default=""),
        metadata=metadata, policy=Policy(allowed_operations=KEY_USAGES[usage], auto_rotate_days=config.auto_rotate_days,
                                         allowed_principals=principals(body.get("allowedPrincipals", []),
                                                                       "allowedPrincipals"),
                                         allowed_purposes=purposes(body.get("allowedPurposes", []), "allowedPurposes")),
        algorithm=suite, aead=aead, expires_at=now + datetime.timedelta(days=days))


@route(routes, SECURITY_GENERATE_KEY)
async def generate(request: web.Request) -> web.Response:
    now = utcnow()
    body = generate_request(await json_object(request, required=True), suite=request.app[SETTINGS].default_suite,
                            now=now, config=request.app[SECURITY_CONFIG].cached)
    key = await request.app[CIFERS].create(caller(request), body)
    return response.ok(request, key_view(key, request.app[CIFERS].kek_id, now), status=201)


@route(routes, SECURITY_FIND_KEYS)
async def find(request: web.Request) -> web.Response:
    """The key /api/security/encrypt chooses is the newest active one of these."""
    query = dict(request.query)
    refuse_unknown(query, {"userId", "keyType"})
    name = key_name(one_of(query, "keyType", KEY_TYPES), parsing.user_id(query.get("userId")))
    found = await request.app[CIFERS].findable(name=name, limit=MAX_KEYS_FOUND)
    now = utcnow()
    return response.ok(request, {"keys": [key_view(key, request.app[CIFERS].kek_id, now) for key in found]})


@route(routes, SECURITY_GET_KEY)
async def get(request: web.Request) -> web.Response:
    key_id = parse_cifer_id(request.match_info["keyId"], "keyId")
    found = await request.app[CIFERS].findable(cifer_id=key_id, limit=1)
    if not found:
        raise ApiError(ErrorCode.NOT_FOUND, "no unrevoked key with this id", {"keyId": key_id})
    return response.ok(request, key_view(found[0], request.app[CIFERS].kek_id, utcnow()))


@route(routes, SECURITY_ROTATE_KEY)
async def rotate(request: web.Request) -> web.Response:
    key_id = parse_cifer_id(request.match_info["keyId"], "keyId")
    body = await json_object(request)
    refuse_unknown(body, {"reason", "gracePeriodDays", "immediateRotation", "notifyUsers"})
    reason = one_of(body, "reason", sec.ROTATE_KEY["properties"]["reason"]["enum"], default="manual")
    for flag in ("immediateRotation", "notifyUsers"):
        if flag in body and not isinstance(body[flag], bool):
            raise invalid(flag, "must be true or false")
    grace = integer(body, "gracePeriodDays", low=0, high=365,
                    default=request.app[SECURITY_CONFIG].cached.settings["keyRotationPolicy"]["gracePeriodDays"])
    rotation = await request.app[CIFERS].rotate(caller(request), key_id, RotateCifer(reason, grace))
    return response.ok(request, {
        "oldKeyId": key_id, "newKeyId": key_id, "oldKeyVersion": str(rotation.old_key_version),
        "newKeyVersion": str(rotation.new_key_version), "rotationDate": iso(rotation.initiated_at),
        "gracePeriodEnd": iso(rotation.re_encryption_deadline),
        "affectedRecords": (await AuditQuery(request.app[SESSIONS]).envelopes_seen(key_id, rotation.old_key_version))[0],
        # No rewrap job runs in the key service: envelopes move to the new version as sidecars rewrap them.
        "reencryptionStatus": "pending", "estimatedCompletionTime": iso(rotation.re_encryption_deadline),
    })


@route(routes, SECURITY_REVOKE_KEY)
async def revoke(request: web.Request) -> web.Response:
    key_id = parse_cifer_id(request.match_info["keyId"], "keyId")
    body = await json_object(request, required=True)
    refuse_unknown(body, {"reason", "emergencyRevocation", "dataAction", "confirmationCode"})
    reason = one_of(body, "reason", sec.REVOKE_KEY["properties"]["reason"]["enum"])
    action = one_of(body, "dataAction", sec.REVOKE_KEY["properties"]["dataAction"]["enum"])
    emergency = body.get("emergencyRevocation")
    if not isinstance(emergency, bool):
        raise invalid("emergencyRevocation", "is required: true or false")
    version = confirmed_version(string(body, "confirmationCode", max_chars=128), key_id)
    revoked_at = await request.app[CIFERS].revoke(caller(request), key_id, confirmed=True, expect_version=version,
                                                  details={"reason": reason, "data_action": action,
                                                           "emergency": emergency})
    count, data_types = await AuditQuery(request.app[SESSIONS]).envelopes_seen(key_id)
    return response.ok(request, {
        "keyId": key_id, "revocationDate": iso(revoked_at), "reason": reason,
        "affectedData": {
            "recordCount": count, "dataTypes": data_types,
            # CIFER holds no data: the action is the caller's to carry out; it is recorded, not performed.
            "action": action, "completionEstimate": iso(revoked_at)},
        "complianceNotifications": ["cifer.revoked"],
    })
