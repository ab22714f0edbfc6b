"""Every endpoint of the CIFER API, declared once: method and path, who serves it, the scope it
needs, its rate-limit category (seed §8.1), whether it is public, whether an idempotent replay
may keep its answer, how the sidecar serves it, and its OpenAPI operation (request and response
schemas from `cifer.api.schemas`).

The key service's authentication, rate limiter and idempotency, the sidecar's forwarder, and
both OpenAPI documents derive from this table; routes are registered with `route()`. A test
holds each application's routes and this table to each other.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from cifer import keyrelease
from cifer.api import schemas as s
from cifer.api import oauth_schemas as oa
from cifer.api import security_monitoring_schemas as mon
from cifer.api import security_schemas as sec
from cifer.api import usage


class Sidecar(enum.Enum):
    """How the sidecar serves an endpoint."""

    LOCAL = "local"  # answered in the pod
    FORWARD = "forward"  # passed through to the key service with the caller's identity
    FORWARD_MOVES_KEY = "forward, moves the key"  # passed through; success or 410 drops the cached public key
    FORWARD_FILE = "forward, a file"  # passed through; a success is a file (its body and type pass as they are)
    FORWARD_OAUTH = "forward, OAuth 2.0"  # passed through as it is (forms, cookies, redirects, OAuth's answers), never
    # with the pod's identity: the caller is a browser or an OAuth client, which authenticates itself
    NONE = "none"  # not served: only sidecars call it, on the key service


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # aiohttp's canonical form: `/v1/cifers/{cifer_id}`
    operation: Mapping[str, Any]  # the OpenAPI operation object; its operationId names the endpoint
    keyservice: bool  # served by the key service
    sidecar: Sidecar
    scope: str | None = None  # the key service refuses a principal without it (403); admin holds every scope
    public: bool = False  # no credential needed
    rate_category: str | None = None  # seed §8.1's category; None: not limited
    keeps_replays: bool = True  # False: its answers hold data keys, so no idempotent replay is ever stored
    rpcs: tuple[str, ...] = ()  # its gRPC twins in CiferService (proto/cifer/v1/cifer.proto): the same rules

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def route_path(self) -> str:
        """The path as routes are registered: `{keyId}` matches cifer ids only, so that
        `/api/security/keys/generate` is never a key's path (its 405s then allow POST alone)."""
        return self.path.replace("{keyId}", "{keyId:cif_[A-Za-z0-9]+}")


def _op(operation_id: str, responses: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"operationId": operation_id, **fields, "responses": responses}


_ROTATE_BODY = s.json_body({"type": "object", "additionalProperties": False, "properties": {
    "reason": {"type": "string", "maxLength": 255},
    "re_encryption_window_days": {
        "type": "integer", "minimum": 0, "maximum": 365,
        "description": "Absent: the cifer's policy.re_encryption_window_days, else the service's default"}}},
    required=False)
_AUDIT_QUERY = [{"name": name, "in": "query", "schema": schema} for name, schema in (
    ("start_date", s.SINCE), ("end_date", s.SINCE), ("cifer_id", s.CIFER_ID),
    ("operation", {"type": "string", "minLength": 1, "maxLength": 255}),
    ("principal", {"type": "string", "minLength": 1, "maxLength": 255}),
    ("outcome", {"enum": ["success", "denied", "failure"]}),
    ("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}))] + [s.page_limit(s.MAX_AUDIT_PAGE_LIMIT)]
_DELIVERY = {"type": "object", "properties": {
    "event_id": {"type": "string"}, "type": s.EVENT, "created": s.TIME,
    "status": {"enum": ["pending", "delivered", "failed"]}, "attempts": {"type": "integer"},
    "next_attempt_at": {"type": ["string", "null"]}, "last_error": {"type": ["string", "null"]},
    "delivered_at": {"type": ["string", "null"]}}}
_DECAP_RESULT = {"type": "object", "properties": {
    "index": {"type": "integer"}, "success": {"type": "boolean"}, "cifer_id": s.CIFER_ID,
    "key_version": {"type": "integer"}, "metadata": s.STRINGS, "audit_record_id": {"type": "string"},
    "sealed_data_key": {"type": "string", "format": "byte", "description":
                        "HPKE enc || ciphertext of the data key, sealed to the request's recipient "
                        "(docs/key-release.md)"}, "error": {"$ref": "#/components/schemas/ErrorBody"}}}
_RECIPIENT = {"type": "object", "required": ["suite", "public_key"], "additionalProperties": False, "properties": {
    "suite": {"enum": list(keyrelease.SUITES)}, "public_key": {"type": "string", "format": "byte"}}}
_ENCRYPT_BODY = s.binary_or_json({
    "type": "object", "required": ["cifer_id", "plaintext"], "additionalProperties": False, "properties": {
        "cifer_id": s.CIFER_ID, "plaintext": {"type": "string"},
        "encoding": {"enum": ["base64", "hex", "utf8"], "default": "base64"}, "metadata": s.SEALED_METADATA},
    "anyOf": s.spelled("plaintext", ("base64", "hex", "utf8"))})
_DECRYPT_BODY = s.binary_or_json({
    "type": "object", "required": ["ciphertext"], "additionalProperties": False, "properties": {
        "ciphertext": {"type": "string", "description": "an envelope"},
        "encoding": {"enum": ["base64", "hex"], "default": "base64"}},
    "anyOf": s.spelled("ciphertext", ("base64", "hex"))})
_INFER_BODY = s.json_body({
    "type": "object", "required": ["model_id"], "additionalProperties": False,
    "properties": {"model_id": {"type": "string", "minLength": 1, "maxLength": 128}, "features": s.FEATURES,
                   "inputs": {"type": "array", "minItems": 1, "maxItems": 1024, "items": s.FEATURES}},
    "oneOf": [{"required": ["features"]}, {"required": ["inputs"]}]})

HEALTH = Endpoint("GET", "/v1/health", _op("healthCheck", {"200": s.ok({"type": "object"}), **s.errors(503)},
                                           security=[]),
                  keyservice=True, sidecar=Sidecar.LOCAL, public=True)
CREATE_CIFER = Endpoint(
    "POST", "/v1/cifers", _op("createCifer", {"201": s.ok(s.CIFER, "CIFER created"),
                                              **s.errors(400, 401, 403, 413, 429, 503)},
                              requestBody=s.json_body({"$ref": "#/components/schemas/CreateCiferRequest"}),
                              parameters=[s.IDEMPOTENCY_KEY]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:create", rate_category="create", rpcs=("CreateCifer",))
LIST_CIFERS = Endpoint(
    "GET", "/v1/cifers", _op("listCifers", {"200": s.ok(s.page_of("cifers", s.CIFER)), **s.errors(400, 401, 403, 429)},
                             parameters=[{"name": "status", "in": "query", "schema": {"enum": ["active", "revoked"]}},
                                         s.page_limit(), s.cursor(s.CIFER_ID)]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:read", rate_category="get", rpcs=("ListCifers",))
GET_CIFER = Endpoint(
    "GET", "/v1/cifers/{cifer_id}", _op("getCifer", {"200": s.ok(s.CIFER), **s.errors(400, 401, 403, 404, 429)},
                                        parameters=[s.CIFER_ID_PATH]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:read", rate_category="get", rpcs=("GetCifer",))
UPDATE_CIFER = Endpoint(
    "PATCH", "/v1/cifers/{cifer_id}", _op(
        "updateCifer", {"200": s.ok(s.CIFER), **s.errors(400, 401, 403, 404, 410, 413, 503)},
        description="CIFER's extension: set what the body names (metadata and policy replace the whole map or "
                    "policy); the owner or an admin. A new auto_rotate_days moves the next rotation to that many "
                    "days after the current version was made.",
        parameters=[s.CIFER_ID_PATH, s.IDEMPOTENCY_KEY],
        requestBody=s.json_body({"$ref": "#/components/schemas/UpdateCiferRequest"})),
    # An update may take `encrypt` out of the policy: the cached key must not outlive that either.
    keyservice=True, sidecar=Sidecar.FORWARD_MOVES_KEY, scope="cifer:create")
REVOKE_CIFER = Endpoint(
    "DELETE", "/v1/cifers/{cifer_id}", _op(
        "revokeCifer", {"200": s.ok({"type": "object", "properties": {
            "cifer_id": s.CIFER_ID, "status": {"const": "revoked"}, "revoked_at": s.TIME,
            "warning": {"type": "string"}}}), **s.errors(400, 401, 403, 404, 410)},
        parameters=[s.CIFER_ID_PATH, s.CONFIRM_REVOCATION]),
    keyservice=True, sidecar=Sidecar.FORWARD_MOVES_KEY, scope="cifer:delete", rpcs=("RevokeCifer",))
ROTATE_CIFER = Endpoint(
    "POST", "/v1/cifers/{cifer_id}/rotate", _op(
        "rotateCifer", {"200": s.ok({"type": "object", "properties": {
            "cifer_id": s.CIFER_ID, "old_key_version": {"type": "integer"}, "new_key_version": {"type": "integer"},
            "new_encapsulation_key": {"type": "string"}, "rotation_initiated_at": s.TIME,
            "re_encryption_deadline": s.TIME}}), **s.errors(400, 401, 403, 404, 410, 429, 503)},
        parameters=[s.CIFER_ID_PATH], requestBody=_ROTATE_BODY),
    keyservice=True, sidecar=Sidecar.FORWARD_MOVES_KEY, scope="cifer:create", rate_category="rotate",
    rpcs=("RotateKey",))
GET_PUBLIC_KEY = Endpoint(
    "GET", "/v1/keys/{cifer_id}", _op(
        "getPublicKey", {"200": s.ok({"type": "object", "properties": {
            "cifer_id": s.CIFER_ID,
            "encapsulation_key": {"type": "string", "description": "base64 SubjectPublicKeyInfo DER"},
            "key_version": {"type": "integer"}, "algorithm": {"enum": s.SUITES}, "valid_until": s.OPTIONAL_TIME,
            "aead": {"enum": s.AEADS, "description": "CIFER's extension: the payload AEAD to seal with"},
            "expires_at": {**s.OPTIONAL_TIME, "description": "CIFER's extension: no encryption to this key "
                                                             "after it (403); it still decrypts"}}}),
            **s.errors(400, 403, 404, 410, 429)},
        security=[], parameters=[s.CIFER_ID_PATH]),
    # Seed §4.7: public keys are public; limited per peer address.
    keyservice=True, sidecar=Sidecar.FORWARD, public=True, rate_category="encrypt", rpcs=("GetPublicKey",))
WHOAMI = Endpoint(
    "GET", "/v1/whoami", _op(
        "whoami", {"200": s.ok({"type": "object", "required": ["principal", "kind", "scopes"], "properties": {
            "principal": {"type": "string"}, "kind": {"enum": ["api_key", "serviceaccount", "oidc", "oauth"]},
            "scopes": {"type": "array", "items": {"type": "string"}}}}), **s.errors(401, 503)},
        description="The caller the credential proves, and its scopes."),
    keyservice=True, sidecar=Sidecar.FORWARD)
DECAPSULATE = Endpoint(
    "POST", "/v1/decapsulate", _op(
        "decapsulate", {"200": s.ok({"type": "object", "properties": {
            "results": {"type": "array", "items": _DECAP_RESULT}}}),
            **s.errors(400, 401, 403, 404, 410, 413, 429, 503)},
        description="Envelope headers in, data keys out sealed to the requester's recipient key "
                    "(sidecars only; docs/key-release.md).",
        requestBody=s.json_body({"type": "object", "required": ["headers", "recipient"], "additionalProperties": False,
                                 "properties": {"headers": {"type": "array", "minItems": 1,
                                                            "maxItems": s.MAX_BATCH_HEADERS,
                                                            "items": {"type": "string", "format": "byte"}},
                                                "recipient": _RECIPIENT,
                                                "contexts": {"type": "array", "items": {"oneOf": [
                                                    {"type": "null"},
                                                    {"type": "object", "additionalProperties": False, "properties": {
                                                        "purpose": {"type": "string", "minLength": 1, "maxLength": 255},
                                                        "user_id": {"type": "string", "minLength": 1,
                                                                    "maxLength": 128}}}]},
                                                             "description": "Per header: why and for whom it is "
                                                                            "opened (audited)"}}})),
    keyservice=True, sidecar=Sidecar.NONE, scope="decrypt", rate_category="decrypt", keeps_replays=False)
REWRAP = Endpoint(
    "POST", "/v1/rewrap", _op(
        "rewrapHeader", {"200": s.ok({"type": "object", "properties": {
            "header": {"type": "string", "format": "byte"}, "cifer_id": s.CIFER_ID,
            "key_version": {"type": "integer"}, "previous_key_version": {"type": "integer"}}}),
            **s.errors(400, 401, 403, 404, 410, 429, 503)},
        requestBody=s.json_body({"type": "object", "required": ["header"], "additionalProperties": False,
                                 "properties": {"header": {"type": "string", "format": "byte"}}})),
    keyservice=True, sidecar=Sidecar.NONE, scope="decrypt", rate_category="decrypt", keeps_replays=False)
# Named as its neighbours are, for what a sidecar sends: headers to decapsulate, a header to rewrap,
# usage to report. Any authenticated identity (a pod's ServiceAccount holds encrypt and decrypt, an
# API key may hold one): the service takes encryptions from a holder of `encrypt` and payload
# failures from whom the key could have been released to, claim by claim (keyservice usage.py).
REPORT_USAGE = Endpoint(
    "POST", "/v1/usage", _op(
        "reportUsage", {"200": s.ok({"type": "object", "properties": {
            "report_id": {"type": "string"}, "duplicate": {"type": "boolean"},
            "accepted": {"type": "integer"}, "unknown_cifer_ids": {"type": "array", "items": s.CIFER_ID},
            "refused_cifer_ids": {"type": "array", "items": s.CIFER_ID}}}),
            **s.errors(400, 401, 403, 413, 503)},
        description="A sidecar's local encryptions and payload-authentication failures, counted per cifer "
                    "(sidecars only; cifer/api/usage.py). Counted once per (principal, report_id).",
        requestBody=s.json_body(usage.SCHEMA)),
    keyservice=True, sidecar=Sidecar.NONE)
QUERY_AUDIT = Endpoint(
    "GET", "/v1/audit", _op("queryAudit", {"200": s.ok({"type": "object"}), **s.errors(400, 401, 403)},
                            parameters=_AUDIT_QUERY,
                            description="An admin reads every record; others the records of the cifers they own."),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:read")
CREATE_WEBHOOK = Endpoint(
    "POST", "/v1/webhooks", _op(
        "createWebhook", {"201": s.ok(s.WEBHOOK, "Webhook registered"), **s.errors(400, 401, 403, 429)},
        description="Seed §7.4; the secret is never returned.",
        requestBody=s.json_body({"type": "object", "required": ["url", "events", "secret"],
                                 "additionalProperties": False, "properties": s.WEBHOOK_FIELDS})),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:create")
LIST_WEBHOOKS = Endpoint(
    "GET", "/v1/webhooks", _op("listWebhooks", {"200": s.ok(s.page_of("webhooks", s.WEBHOOK)),
                                                **s.errors(400, 401, 403)},
                               parameters=[s.page_limit(), s.cursor(s.WEBHOOK_ID)]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:read")
GET_WEBHOOK = Endpoint(
    "GET", "/v1/webhooks/{webhook_id}", _op("getWebhook", {"200": s.ok(s.WEBHOOK), **s.errors(400, 401, 403, 404)},
                                            parameters=[s.WEBHOOK_ID_PATH]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:read")
UPDATE_WEBHOOK = Endpoint(
    "PATCH", "/v1/webhooks/{webhook_id}", _op(
        "updateWebhook", {"200": s.ok(s.WEBHOOK), **s.errors(400, 401, 403, 404, 413, 503)},
        description="Set what the body names, validated as at registration; cifer_ids: null removes the filter. "
                    "The owner or an admin; the secret is never returned.",
        parameters=[s.WEBHOOK_ID_PATH, s.IDEMPOTENCY_KEY],
        requestBody=s.json_body({"type": "object", "additionalProperties": False, "properties": s.WEBHOOK_FIELDS})),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:create")
DELETE_WEBHOOK = Endpoint(
    "DELETE", "/v1/webhooks/{webhook_id}", _op(
        "deleteWebhook", {"200": s.ok({"type": "object", "properties": {
            "id": {"type": "string"}, "deleted": {"const": True}, "deleted_at": s.TIME}}),
            **s.errors(400, 401, 403, 404)},
        parameters=[s.WEBHOOK_ID_PATH]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:create")
LIST_DELIVERIES = Endpoint(
    "GET", "/v1/webhooks/{webhook_id}/deliveries", _op(
        "listDeliveries", {"200": s.ok({"type": "object", "properties": {
            "deliveries": {"type": "array", "items": _DELIVERY}}}), **s.errors(400, 401, 403, 404)},
        description="Delivery status, newest first.", parameters=[s.WEBHOOK_ID_PATH, s.page_limit()]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:read")
OPENAPI = Endpoint(
    "GET", "/v1/openapi.json", _op("openapi", {"200": {
        "description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}},
        security=[]),
    keyservice=True, sidecar=Sidecar.LOCAL, public=True)
METRICS = Endpoint(
    "GET", "/metrics", _op("metrics", {"200": {
        "description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        security=[]),
    keyservice=True, sidecar=Sidecar.LOCAL, public=True)
# Seed 001's keys (docs/security-api.md): cifers under the seed's names, served by the key service.
_KEY_ID_PATH = {"name": "keyId", "in": "path", "required": True, "schema": s.CIFER_ID}
SECURITY_GENERATE_KEY = Endpoint(
    "POST", "/api/security/keys/generate", _op(
        "securityGenerateKey", {"201": s.ok(sec.KEY, "Key generated"), **s.errors(400, 401, 403, 413, 429, 503)},
        **sec.described("A cifer for one user's data of one key type (seed 001)."),
        parameters=[s.IDEMPOTENCY_KEY], requestBody=s.json_body(sec.GENERATE_KEY)),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:create", rate_category="create")
SECURITY_FIND_KEYS = Endpoint(
    "GET", "/api/security/keys", _op(
        "securityFindKeys", {"200": s.ok({"type": "object", "properties": {
            "keys": {"type": "array", "items": sec.KEY}}}), **s.errors(400, 401, 403, 429)},
        **sec.described("CIFER's extension: the unrevoked keys of a user and key type, newest first (what "
                        "/api/security/encrypt encrypts to). Anyone who may encrypt may look: public keys are public."),
        parameters=[{"name": "userId", "in": "query", "required": True, "schema": sec.USER_ID},
                    {"name": "keyType", "in": "query", "required": True, "schema": sec.KEY_TYPE}]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="encrypt", rate_category="get")
SECURITY_GET_KEY = Endpoint(
    "GET", "/api/security/keys/{keyId}", _op(
        "securityGetKey", {"200": s.ok(sec.KEY), **s.errors(400, 401, 403, 404, 429)},
        **sec.described("CIFER's extension: one unrevoked key, as generation answered it."),
        parameters=[_KEY_ID_PATH]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="encrypt", rate_category="get")
SECURITY_ROTATE_KEY = Endpoint(
    "POST", "/api/security/keys/{keyId}/rotate", _op(
        "securityRotateKey", {"200": s.ok(sec.ROTATED), **s.errors(400, 401, 403, 404, 410, 413, 429, 503)},
        **sec.described("Rotates as POST /v1/cifers/{cifer_id}/rotate; gracePeriodDays is how long the old "
                        "version still decrypts."),
        parameters=[_KEY_ID_PATH], requestBody=s.json_body(sec.ROTATE_KEY, required=False)),
    keyservice=True, sidecar=Sidecar.FORWARD_MOVES_KEY, scope="cifer:create", rate_category="rotate")
SECURITY_REVOKE_KEY = Endpoint(
    "DELETE", "/api/security/keys/{keyId}", _op(
        "securityRevokeKey", {"200": s.ok(sec.REVOKED), **s.errors(400, 401, 403, 404, 410, 413)},
        **sec.described("Revokes as DELETE /v1/cifers/{cifer_id}; confirmationCode stands for "
                        "X-Confirm-Revocation."),
        parameters=[_KEY_ID_PATH], requestBody=s.json_body(sec.REVOKE_KEY)),
    keyservice=True, sidecar=Sidecar.FORWARD_MOVES_KEY, scope="cifer:delete")
# Seed 001's monitoring (docs/security-api.md, "Monitoring"): read from the key service's records.
SECURITY_AUDIT = Endpoint(
    "GET", "/api/security/audit/encryption", _op(
        "securityQueryAudit", {"200": s.ok(mon.AUDIT_PAGE), **s.errors(400, 401, 403, 429)},
        **sec.described("The records of keys and data (seed 001's operations), filtered and counted in the "
                        "database; auditChain says whether the returned records verify. Admin."),
        parameters=mon.AUDIT_QUERY),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="admin", rate_category="get")
SECURITY_KEY_USAGE = Endpoint(
    "GET", "/api/security/keys/{keyId}/usage", _op(
        "securityKeyUsage", {"200": s.ok(mon.KEY_USAGE), **s.errors(400, 401, 403, 404, 429)},
        **sec.described("A key's operations per hour, day, week or month; the buckets sum to the totals. Admin."),
        parameters=[_KEY_ID_PATH, *mon.USAGE_QUERY]),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="admin", rate_category="get")
SECURITY_ALERTS = Endpoint(
    "GET", "/api/security/alerts", _op(
        "securityListAlerts", {"200": s.ok({"type": "object", "properties": {
            "alerts": {"type": "array", "items": mon.ALERT}}}), **s.errors(400, 401, 403, 429)},
        **sec.described("CIFER's extension: the detectors' alerts, newest first. Admin."),
        parameters=mon.ALERTS_QUERY),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="admin", rate_category="get")
SECURITY_RESOLVE_ALERT = Endpoint(
    "POST", "/api/security/alerts/{alertId}/resolve", _op(
        "securityResolveAlert", {"200": s.ok(mon.ALERT), **s.errors(400, 401, 403, 404, 413)},
        **sec.described("CIFER's extension: closes an alert, with what was found and done (audited). Admin."),
        parameters=[{"name": "alertId", "in": "path", "required": True, "schema": {"type": "string"}}],
        requestBody=s.json_body(mon.RESOLVE_ALERT)),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="admin")
SECURITY_GENERATE_REPORT = Endpoint(
    "POST", "/api/security/reports/generate", _op(
        "securityGenerateReport", {"200": s.ok(mon.REPORT), **s.errors(400, 401, 403, 413, 429, 503)},
        **sec.described("Figures computed from the records; csv and pdf are stored and served at downloadUrl "
                        "until expiryDate. Admin."),
        requestBody=s.json_body(mon.REPORT_REQUEST)),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="admin", rate_category="get")
SECURITY_DOWNLOAD_REPORT = Endpoint(
    "GET", "/api/security/reports/{reportId}/download", _op(
        "securityDownloadReport", {"200": {"description": "The report's file", "content": {
            "text/csv": {"schema": {"type": "string"}}, "application/pdf": {"schema": {"type": "string",
                                                                                         "format": "binary"}}}},
            **s.errors(400, 403, 404, 410)},
        description="A report's csv or pdf, at the signed URL the generation answered: no token; 403 for a "
                    "signature that does not verify, 410 after expiryDate.", security=[],
        parameters=[{"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
                    for name in ("expires", "signature")]
        + [{"name": "reportId", "in": "path", "required": True, "schema": {"type": "string"}}]),
    keyservice=True, sidecar=Sidecar.FORWARD_FILE, public=True)

SECURITY_GET_CONFIG = Endpoint(
    "GET", "/api/security/config/encryption", _op(
        "securityGetConfig", {"200": s.ok(mon.CONFIG), **s.errors(401, 403, 429)},
        **sec.described("CIFER's extension: the encryption configuration in force. Admin.")),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="admin", rate_category="get")
SECURITY_PUT_CONFIG = Endpoint(
    "PUT", "/api/security/config/encryption", _op(
        "securityUpdateConfig", {"200": s.ok(mon.CONFIG_RESULT, "Applied, or `failed` with each setting's reason "
                                                                "(nothing changed)"),
                                 **s.errors(400, 401, 403, 413)},
        **sec.described("Validates every setting, applies at once what the service can honour, refuses what it "
                        "cannot; persisted and audited. Admin."),
        requestBody=s.json_body(mon.CONFIG_REQUEST)),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="admin")
SECURITY_HEALTH = Endpoint(
    "GET", "/api/security/health", _op(
        "securityHealth", {"200": s.ok(mon.HEALTH), **s.errors(401, 403, 429)},
        **sec.described("Measured: keys, operations, latency, error rates, the release queue, the audit log; "
                        "status by documented thresholds. Not rate-limited: the limiter's counters may live in the "
                        "very database whose outage it reports.")),
    keyservice=True, sidecar=Sidecar.FORWARD, scope="cifer:read")

# Served by the sidecar alone: the application's data never leaves its pod.
ENCRYPT = Endpoint(
    "POST", "/v1/encrypt", _op(
        "encryptData", {"200": s.ok_binary_or_json({"type": "object", "properties": {
            "ciphertext": {"type": "string", "description": "base64 envelope"}, "encoding": {"const": "base64"},
            "envelope_size": {"type": "integer"}, "algorithm": s.ALGORITHM, "metadata": s.STRINGS,
            "cifer_id": {"type": "string"}, "key_version": {"type": "integer"}}}),
            **s.errors(400, 401, 403, 404, 410, 413, 429, 503)},
        parameters=s.CIFER_HEADERS, requestBody=_ENCRYPT_BODY),
    keyservice=False, sidecar=Sidecar.LOCAL, scope="encrypt", rpcs=("Encrypt", "EncryptStream"))
DECRYPT = Endpoint(
    "POST", "/v1/decrypt", _op(
        "decryptData", {"200": s.ok_binary_or_json({"type": "object", "properties": {
            "plaintext": {"type": "string"}, "encoding": {"enum": ["base64", "hex"]},
            "cifer_id": {"type": "string"}, "key_version": {"type": "integer"}, "metadata": s.STRINGS}}),
            **s.errors(400, 401, 403, 404, 410, 413, 429, 503)},
        requestBody=_DECRYPT_BODY),
    keyservice=False, sidecar=Sidecar.LOCAL, scope="decrypt", rpcs=("Decrypt", "DecryptStream"))
INFER = Endpoint(
    "POST", "/v1/infer", _op(
        "infer", {"200": s.ok({"type": "object", "properties": {
            "model_id": {"type": "string"}, "predicted_class": {"type": "integer"},
            "scores": {"type": "array", "items": {"type": "number"}}, "latency_ms": {"type": "number"},
            "encrypted": {"const": True}, "predictions": {"type": "array", "items": {"type": "object"}}}}),
            **s.errors(400, 401, 403, 404, 413, 429, 503)},
        description="Encrypted inference (seed 004): the features are encrypted here under the pod's CKKS key; "
                    "the inference service computes on ciphertexts only. 503 when the pod has no inference "
                    "service (annotation cifer.io/inference).",
        requestBody=_INFER_BODY),
    keyservice=False, sidecar=Sidecar.LOCAL)

# Seed 001's data encryption: sealed and opened in the pod, as /v1/encrypt and /v1/decrypt.
SECURITY_ENCRYPT = Endpoint(
    "POST", "/api/security/encrypt", _op(
        "securityEncrypt", {"200": s.ok(sec.ENCRYPTED), **s.errors(400, 401, 403, 404, 410, 413, 429, 503)},
        **sec.described("Seals a string or JSON object to the user's key for the data type."),
        requestBody=s.json_body(sec.ENCRYPT)),
    keyservice=False, sidecar=Sidecar.LOCAL, scope="encrypt")
SECURITY_DECRYPT = Endpoint(
    "POST", "/api/security/decrypt", _op(
        "securityDecrypt", {"200": s.ok(sec.DECRYPTED), **s.errors(400, 401, 403, 404, 410, 413, 429, 503)},
        **sec.described("Opens what /api/security/encrypt sealed, through the same key release as /v1/decrypt."),
        requestBody=s.json_body(sec.DECRYPT)),
    keyservice=False, sidecar=Sidecar.LOCAL, scope="decrypt")
SECURITY_ENCRYPT_BATCH = Endpoint(
    "POST", "/api/security/encrypt/batch", _op(
        "securityEncryptBatch", {"200": s.ok(sec.BATCHED), "202": s.ok(sec.BATCHED, "Queued: the callback delivers"),
                                 **s.errors(400, 401, 403, 413, 429, 503)},
        **sec.described(f"Up to {sec.MAX_BATCH_OPERATIONS} encryptions, each answered on its own. With a callback, "
                        f"more than {sec.QUEUED_OVER} are answered `queued` (202) and delivered by it."),
        requestBody=s.json_body(sec.BATCH)),
    keyservice=False, sidecar=Sidecar.LOCAL, scope="encrypt")

SHUTDOWN = Endpoint(
    "POST", "/v1/shutdown", _op(
        "shutdownSidecar", {"202": s.ok({"type": "object", "properties": {"stopping": {"const": True}}},
                                        "Answered; then the sidecar stops and exits 0"), **s.errors(403)},
        security=[],
        description="Stops the sidecar, for a Job's application that has finished (docs/injection.md). Only "
                    "the pod's own containers may: a request on loopback, naming a loopback host, with no "
                    "credential of its own (the pod's identity, lent) and no Origin; anything else is 403."),
    keyservice=False, sidecar=Sidecar.LOCAL, public=True)

# OAuth 2.0 (seed §3.3, docs/oauth.md): the key service is the authorization server.
OAUTH_AUTHORIZE = Endpoint(
    "GET", "/oauth/authorize", _op(
        "oauthAuthorize", {"200": oa.page("The login page, or the consent page of a user logged in"),
                           "302": oa.REDIRECT, "400": oa.page("No client, or a redirect URI not registered")},
        security=[], parameters=oa.AUTHORIZE_PARAMETERS,
        description="The authorization-code grant's authorization endpoint (RFC 6749 §4.1.1), with PKCE (RFC 7636)."),
    keyservice=True, sidecar=Sidecar.FORWARD_OAUTH, public=True, keeps_replays=False)
OAUTH_AUTHORIZE_FORM = Endpoint(
    "POST", "/oauth/authorize", _op(
        "oauthAuthorizeForm", {"200": oa.page("The consent page, or the login page again with its error"),
                               "302": oa.REDIRECT, "400": oa.page("The request or its CSRF token is not valid"),
                               **s.errors(429)},
        security=[], parameters=oa.AUTHORIZE_PARAMETERS, requestBody=oa.form(oa.LOGIN_FORM),
        description="The login and consent pages' forms, posted back with the authorization request's query."),
    keyservice=True, sidecar=Sidecar.FORWARD_OAUTH, public=True, keeps_replays=False, rate_category="login")
OAUTH_TOKEN = Endpoint(
    "POST", "/oauth/token", _op(
        "oauthToken", {"200": oa.json(oa.TOKEN, "An access token, and a refresh token after a login"),
                       "400": oa.json(oa.ERROR, "RFC 6749 §5.2"), "401": oa.json(oa.ERROR, "The client is not known")},
        security=[], requestBody=oa.form(oa.TOKEN_FORM),
        description="The token endpoint (RFC 6749 §3.2): authorization_code, refresh_token, client_credentials."),
    keyservice=True, sidecar=Sidecar.FORWARD_OAUTH, public=True, keeps_replays=False)
OAUTH_REVOKE = Endpoint(
    "POST", "/oauth/revoke", _op(
        "oauthRevoke", {"200": oa.json({"type": "object"}, "Revoked, or not a token of the client's (RFC 7009 §2.2)"),
                        "400": oa.json(oa.ERROR, "RFC 7009 §2.2.1"), "401": oa.json(oa.ERROR, "The client is not known")},
        security=[], requestBody=oa.form(oa.REVOKE_FORM),
        description="Token revocation (RFC 7009): a token's whole grant ends, its access and refresh tokens."),
    keyservice=True, sidecar=Sidecar.FORWARD_OAUTH, public=True, keeps_replays=False)
OAUTH_METADATA = Endpoint(
    "GET", "/.well-known/oauth-authorization-server", _op(
        "oauthMetadata", {"200": oa.json(oa.METADATA, "RFC 8414 §3.2")}, security=[],
        description="The authorization server's metadata (RFC 8414)."),
    keyservice=True, sidecar=Sidecar.FORWARD_OAUTH, public=True)
OAUTH_JWKS = Endpoint(
    "GET", "/oauth/jwks", _op(
        "oauthJwks", {"200": oa.json(oa.JWKS, "RFC 7517 §5")}, security=[],
        description="The public keys that verify access tokens: the signing one, and those retired but not yet expired."),
    keyservice=True, sidecar=Sidecar.FORWARD_OAUTH, public=True)

# Every endpoint above, in the order declared (the order of the OpenAPI documents' paths).
ENDPOINTS: tuple[Endpoint, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Endpoint))
KEYSERVICE = "keyservice"
SIDECAR = "sidecar"
_TWINS = {rpc: endpoint for endpoint in ENDPOINTS for rpc in endpoint.rpcs}


def twin(rpc: str) -> Endpoint:
    """The endpoint whose gRPC twin `rpc` is (a CiferService method name)."""
    return _TWINS[rpc]


def served_by(server: str) -> Iterator[Endpoint]:
    """The endpoints `server` (KEYSERVICE or SIDECAR) answers, in declaration order."""
    for endpoint in ENDPOINTS:
        if endpoint.keyservice if server == KEYSERVICE else endpoint.sidecar is not Sidecar.NONE:
            yield endpoint


def route(table: web.RouteTableDef, endpoint: Endpoint):
    """Registers the decorated handler for `endpoint`: `@route(routes, CREATE_CIFER)`. A GET
    answers HEAD too, as aiohttp's `get` does."""
    if endpoint.method == "GET":
        return table.get(endpoint.route_path)
    return table.route(endpoint.method, endpoint.route_path)


@functools.cache
def _routes_of(server: str) -> dict[tuple[str, str], Endpoint]:
    return {endpoint.key: endpoint for endpoint in served_by(server)}


def endpoint_of(request: web.Request, server: str) -> Endpoint | None:
    """The endpoint a request was routed to on `server` (HEAD as its GET); None when it matched
    no route of the table (a 404, a 405, or a route nobody declared: callers fail closed)."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return _routes_of(server).get((method, resource.canonical))
