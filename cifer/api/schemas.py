"""JSON Schema pieces of seed 000's bodies (§2.3 response body, §4 requests and answers, §9
errors), and the bounds the services enforce, so that a bound and its documentation are one
number. The endpoint table (`cifer.api.endpoints`) builds each operation from these."""

from __future__ import annotations

import re
from typing import Any

from cifer.api import oauth_schemas
from cifer.api.errors import DOCUMENTATION_URL, ErrorCode
from cifer.crypto import suites
from cifer.envelope.format import CIFER_ID_RE, MAX_METADATA_BYTES

# Bounds of the key service's requests (checked there, documented here).
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_CHARS = 128
MAX_METADATA_VALUE_CHARS = 1024
MAX_ALLOWED_PRINCIPALS = 100
MAX_PRINCIPAL_CHARS = 255  # owner_id columns are String(255)
MAX_ALLOWED_PURPOSES = 32
MAX_PURPOSE_CHARS = 255  # seed 001's accessPurpose
MAX_PAGE_LIMIT = 100  # cifers, webhooks, deliveries
MAX_AUDIT_PAGE_LIMIT = 500
WEBHOOK_ID_RANDOM_CHARS = 24  # 142 bits, as cifer ids
WEBHOOK_ID_RE = re.compile(r"wh_[A-Za-z0-9]{%d}" % WEBHOOK_ID_RANDOM_CHARS)
MAX_WEBHOOK_URL_CHARS = 2048
MIN_WEBHOOK_SECRET_CHARS = 16  # below this an HMAC key is guessable
MAX_WEBHOOK_SECRET_CHARS = 256
MAX_WEBHOOK_CIFER_IDS = 1000  # a webhook per key set, not per fleet: beyond this, one webhook for all is the tool
MAX_BATCH_HEADERS = 256  # the key service's default; `max_batch_headers` may lower it
# A cifer's own rate limits (`policy.rate_limits`), per principal, on top of the service's: the
# categories that are about one key, and the bounds of a LIMIT/WINDOW_S value.
KEY_RATE_CATEGORIES = ["decrypt", "workload_decrypt"]
MAX_KEY_RATE_LIMIT = 1_000_000_000
MAX_KEY_RATE_WINDOW_S = 86400  # a day: the counters of ended windows are deleted after the longest one
# LIMIT/WINDOW_S, as `--rate-limit` spells it, within the bounds above (1 to 1,000,000,000 in 1 to
# 86,400 s), spelled out in the pattern itself so the OpenAPI document and the CRDs promise exactly
# what the key service takes.
RATE_LIMIT_RE = re.compile(r"(?:[1-9][0-9]{0,8}|1000000000)/(?:[1-9][0-9]{0,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}"
                           r"|86[0-3][0-9]{2}|86400)")

SUITES = ["ML-KEM-768", "ML-KEM-1024", "X-Wing"]
AEADS = list(suites.AEADS)  # an envelope's payload AEAD (docs/envelope.md)
EVENTS = ["cifer.created", "cifer.rotated", "cifer.revoked", "cifer.expiring", "decrypt.failed", "quota.exceeded",
          "security.alert"]  # the last: CIFER's, seed 001's detectors (docs/security-api.md)
OPERATIONS = ["encrypt", "decrypt", "rotate", "revoke"]

# Ids as the server matches them (`fullmatch`), anchored for JSON Schema.
CIFER_ID = {"type": "string", "pattern": f"^{CIFER_ID_RE.pattern}$"}
WEBHOOK_ID = {"type": "string", "pattern": f"^{WEBHOOK_ID_RE.pattern}$"}
TIME = {"type": "string", "format": "date-time"}
OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
SINCE = {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}],
         "description": "ISO 8601: a date-time with its offset, or a date (midnight UTC)"}
STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {"type": "object", "maxProperties": MAX_METADATA_ENTRIES,
            "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_CHARS},
            "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE_CHARS}}
SEALED_METADATA = {**STRINGS, "description": f"Sealed in the envelope: at most {MAX_METADATA_BYTES} bytes as canonical JSON"}
OCTETS = {"type": "string", "format": "binary"}
ALGORITHM = {"type": "object", "required": ["kem", "aead"], "properties": {
    "kem": {"enum": SUITES}, "aead": {"enum": AEADS}}}
CIFER = {"$ref": "#/components/schemas/Cifer"}
EVENT = {"enum": EVENTS}
# http(s) with a host and no credentials (no @ before the path), in RFC 3986's characters.
WEBHOOK_URL = {"type": "string", "format": "uri", "maxLength": MAX_WEBHOOK_URL_CHARS,
               "pattern": "^[hH][tT][tT][pP][sS]?://[!-\"$-.0->A-~]+(?:[/?#][!-~]*)?$"}
WEBHOOK_CIFER_IDS = {"type": ["array", "null"], "maxItems": MAX_WEBHOOK_CIFER_IDS, "items": CIFER_ID,
                     "description": "Deliver only events whose data.cifer_id is listed; null or absent: every "
                                    "cifer of the owner. Events about no cifer (quota.exceeded) reach only "
                                    "webhooks without a list."}
WEBHOOK = {"type": "object", "properties": {"id": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                                            "events": {"type": "array", "items": EVENT},
                                            "cifer_ids": WEBHOOK_CIFER_IDS, "created_at": TIME}}
WEBHOOK_FIELDS = {"url": WEBHOOK_URL, "events": {"type": "array", "minItems": 1, "items": EVENT},
                  "secret": {"type": "string", "minLength": MIN_WEBHOOK_SECRET_CHARS,
                             "maxLength": MAX_WEBHOOK_SECRET_CHARS},
                  "cifer_ids": WEBHOOK_CIFER_IDS}
FEATURES = {"type": "array", "minItems": 1, "maxItems": 4096, "items": {"type": "number"}}

# Parameters.
REPLAYED_HEADER = "Idempotent-Replayed"  # `true` on an answer replayed for its X-Idempotency-Key
IDEMPOTENCY_KEY = {
    "name": "X-Idempotency-Key", "in": "header",
    "description": "Replays the first answer to the same request; with another request it is a 400.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e](?:[\\x20-\\x7e]{0,253}[\\x21-\\x7e])?$"},
}
CIFER_ID_PATH = {"name": "cifer_id", "in": "path", "required": True, "schema": CIFER_ID}
WEBHOOK_ID_PATH = {"name": "webhook_id", "in": "path", "required": True, "schema": WEBHOOK_ID}
CONFIRM_REVOCATION = {"name": "X-Confirm-Revocation", "in": "header", "required": True, "schema": {"const": "true"}}
CIFER_HEADERS = [
    {"name": "X-Cifer-Id", "in": "header", "schema": CIFER_ID,
     "description": "The recipient; required with a binary body, checked whenever sent"},
    {"name": "X-Cifer-Metadata", "in": "header", "description": "With a binary body; checked whenever sent",
     "content": {"application/json": {"schema": SEALED_METADATA}}},
]


def page_limit(maximum: int = MAX_PAGE_LIMIT) -> dict[str, Any]:
    return {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": maximum}}


def cursor(schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": "cursor", "in": "query", "schema": schema}


def ok(data: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """A success response body (seed §2.3) whose `data` is `data`."""
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["success", "data", "meta"],
        "properties": {"success": {"const": True}, "data": data, "meta": {"$ref": "#/components/schemas/Meta"}},
    }}}}


def ok_binary_or_json(data: dict[str, Any]) -> dict[str, Any]:
    answer = ok(data)
    answer["content"]["application/octet-stream"] = {"schema": OCTETS}
    return answer


def errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": "#/components/responses/Error"} for status in statuses}


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def binary_or_json(json_schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": json_schema},
                                          "application/octet-stream": {"schema": OCTETS}}}


def page_of(name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "array", "items": item}, "has_more": {"type": "boolean"},
                                             "next_cursor": {"type": ["string", "null"]}}}


# Bytes as text, spelled as `encoding` says; `base64` (padded, no whitespace) when it is absent.
_SPELLINGS = {
    "base64": {"pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"},
    "hex": {"pattern": "^(?:[0-9A-Fa-f]{2})*$"},
    "utf8": {},
}


def spelled(field: str, encodings: tuple[str, ...]) -> list[dict[str, Any]]:
    """`anyOf` branches tying `field`'s spelling to `encoding` (base64 when absent)."""
    return [{"properties": {"encoding": {"const": "base64"}, field: _SPELLINGS["base64"]}}] + [
        {"required": ["encoding"], "properties": {"encoding": {"const": name}, field: _SPELLINGS[name]}}
        for name in encodings if name != "base64"]


COMPONENTS: dict[str, Any] = {
    "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                       "description": "An sk_test_/sk_live_ API key, or a pod's ServiceAccount token"},
                        "oauth2": oauth_schemas.SECURITY_SCHEME},
    "schemas": {
        "Meta": {"type": "object", "required": ["request_id", "timestamp"], "properties": {
            "request_id": {"type": "string"}, "timestamp": TIME, "version": {"type": "string"}}},
        "ErrorBody": {"type": "object", "required": ["code", "message", "documentation_url"], "properties": {
            "code": {"enum": [code.name for code in ErrorCode]},
            "message": {"type": "string"}, "details": {"type": "object"},
            "documentation_url": {"type": "string", "format": "uri", "pattern": f"^{re.escape(DOCUMENTATION_URL)}[A-Z_]+$",
                                  "description": "The code's page (docs/errors.md)"}}},
        "CiferPolicy": {"type": "object", "additionalProperties": False, "properties": {
            "auto_rotate_days": {"type": "integer", "minimum": 0, "maximum": 365},
            "allowed_operations": {"type": "array", "items": {"enum": OPERATIONS}},
            "allowed_principals": {"type": "array", "maxItems": MAX_ALLOWED_PRINCIPALS, "items": {
                "type": "string", "minLength": 1, "maxLength": MAX_PRINCIPAL_CHARS}},
            "allowed_purposes": {
                "type": "array", "maxItems": MAX_ALLOWED_PURPOSES,
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_PURPOSE_CHARS},
                "description": "Seed 001's accessPurposes a decryption must name one of; absent or empty: any"},
            "re_encryption_window_days": {
                "type": "integer", "minimum": 0, "maximum": 365,
                "description": "Days a rotated-out version still decrypts when a rotation names no window "
                               "(scheduled rotations never do); absent: the service's default"},
            "rate_limits": {
                "type": "object", "additionalProperties": False,
                "description": "Limits of this key's own, per principal, as LIMIT/WINDOW_S (at most "
                               f"{MAX_KEY_RATE_LIMIT} in {MAX_KEY_RATE_WINDOW_S} s): counted on top of the "
                               "service's limits, they only tighten them. decrypt: headers of this key "
                               "decapsulated or rewrapped by API keys and OAuth/OIDC clients; workload_decrypt: "
                               "by workload identities (ServiceAccounts)",
                "properties": {category: {"type": "string", "pattern": f"^{RATE_LIMIT_RE.pattern}$"}
                               for category in KEY_RATE_CATEGORIES}}}},
        "CreateCiferRequest": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"type": "string", "maxLength": 255}, "description": {"type": "string", "maxLength": 1000},
            "metadata": METADATA, "policy": {"$ref": "#/components/schemas/CiferPolicy"},
            "algorithm": {"enum": SUITES},
            "aead": {"enum": AEADS, "default": AEADS[0],
                     "description": "CIFER's extension: the payload AEAD of the cifer's envelopes"}}},
        "UpdateCiferRequest": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"type": "string", "maxLength": 255}, "description": {"type": "string", "maxLength": 1000},
            "metadata": METADATA, "policy": {"$ref": "#/components/schemas/CiferPolicy"}}},
        "Cifer": {"type": "object", "properties": {
            "cifer_id": CIFER_ID, "name": {"type": "string"}, "description": {"type": "string"},
            "status": {"enum": ["active", "revoked"]}, "created_at": TIME, "updated_at": TIME,
            "owner_id": {"type": "string"}, "encapsulation_key": {"type": "string"}, "key_version": {"type": "integer"},
            "key_algorithm": {"type": "string"}, "aead": {"enum": AEADS}, "expires_at": OPTIONAL_TIME,
            "metadata": STRINGS,
            "policy": {"$ref": "#/components/schemas/CiferPolicy"}, "statistics": {"type": "object"},
            "next_rotation_at": OPTIONAL_TIME, "key_created_at": TIME}},
    },
    "responses": {"Error": {"description": "The seed's error body", "content": {"application/json": {"schema": {
        "type": "object", "required": ["success", "error", "meta"], "properties": {
            "success": {"const": False}, "error": {"$ref": "#/components/schemas/ErrorBody"},
            "meta": {"$ref": "#/components/schemas/Meta"}}}}}}},
}
