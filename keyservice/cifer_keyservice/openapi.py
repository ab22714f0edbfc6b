"""OpenAPI 3.1 for what the key service serves, at /v1/openapi.json.

Shapes follow seed 000 (§2.3 response body, §4 bodies, §9 errors). A test compares these paths
with the application's routes, so neither can drift from the other.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

import cifer
from cifer.envelope.format import CIFER_ID_RE
from cifer_keyservice.requests import (
    MAX_ALLOWED_PRINCIPALS,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_VALUE_CHARS,
    MAX_PRINCIPAL_CHARS,
    WEBHOOK_ID_RE,
)
from cifer_keyservice.webhooks.service import MAX_CIFER_IDS, MAX_SECRET_CHARS, MIN_SECRET_CHARS

routes = web.RouteTableDef()

# Ids as the server matches them (`fullmatch`), anchored for JSON Schema.
_CIFER_ID = {"type": "string", "pattern": f"^{CIFER_ID_RE.pattern}$"}
_TIME = {"type": "string", "format": "date-time"}
_SINCE = {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}],
          "description": "ISO 8601: a date-time with its offset, or a date (midnight UTC)"}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {"type": "object", "maxProperties": MAX_METADATA_ENTRIES,
             "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_CHARS},
             "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE_CHARS}}
_IDEMPOTENCY_KEY = {
    "name": "X-Idempotency-Key", "in": "header",
    "description": "Replays the first answer to the same request; with another request it is a 400.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e](?:[\\x20-\\x7e]{0,253}[\\x21-\\x7e])?$"},
}


def _ok(data: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["success", "data", "meta"],
        "properties": {"success": {"const": True}, "data": data, "meta": {"$ref": "#/components/schemas/Meta"}},
    }}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": "#/components/responses/Error"} for status in statuses}


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_PATH_ID = [{"name": "cifer_id", "in": "path", "required": True, "schema": _CIFER_ID}]
_CIFER = {"$ref": "#/components/schemas/Cifer"}
_EVENTS = {"enum": ["cifer.created", "cifer.rotated", "cifer.revoked", "cifer.expiring", "decrypt.failed",
                    "quota.exceeded"]}
_WEBHOOK_ID_SCHEMA = {"type": "string", "pattern": f"^{WEBHOOK_ID_RE.pattern}$"}
_WEBHOOK_ID = [{"name": "webhook_id", "in": "path", "required": True, "schema": _WEBHOOK_ID_SCHEMA}]
# http(s) with a host and no credentials (no @ before the path), in RFC 3986's characters.
_WEBHOOK_URL = {"type": "string", "format": "uri", "maxLength": 2048,
                "pattern": "^[hH][tT][tT][pP][sS]?://[!-\"$-.0->A-~]+(?:[/?#][!-~]*)?$"}
_WEBHOOK_CIFER_IDS = {"type": ["array", "null"], "maxItems": MAX_CIFER_IDS, "items": _CIFER_ID,
                      "description": "Deliver only events whose data.cifer_id is listed; null or absent: every "
                                     "cifer of the owner. Events about no cifer (quota.exceeded) reach only "
                                     "webhooks without a list."}
_WEBHOOK = {"type": "object", "properties": {"id": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                                             "events": {"type": "array", "items": _EVENTS},
                                             "cifer_ids": _WEBHOOK_CIFER_IDS, "created_at": _TIME}}
_WEBHOOK_FIELDS = {"url": _WEBHOOK_URL, "events": {"type": "array", "minItems": 1, "items": _EVENTS},
                   "secret": {"type": "string", "minLength": MIN_SECRET_CHARS, "maxLength": MAX_SECRET_CHARS},
                   "cifer_ids": _WEBHOOK_CIFER_IDS}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "CIFER key service", "version": cifer.__version__,
             "description": "Key lifecycle, decapsulation for sidecars, audit. The only place a private key is unwrapped."},
    "security": [{"bearerAuth": []}],
    "paths": {
        "/v1/health": {"get": {"operationId": "healthCheck", "security": [], "responses": {
            "200": _ok({"type": "object"}), **_errors(503)}}},
        "/v1/cifers": {
            "post": {"operationId": "createCifer", "requestBody": _json_body({"$ref": "#/components/schemas/CreateCiferRequest"}),
                     "parameters": [_IDEMPOTENCY_KEY],
                     "responses": {"201": _ok(_CIFER, "CIFER created"), **_errors(400, 401, 403, 413, 429, 503)}},
            "get": {"operationId": "listCifers", "parameters": [
                {"name": "status", "in": "query", "schema": {"enum": ["active", "revoked"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                {"name": "cursor", "in": "query", "schema": _CIFER_ID}],
                "responses": {"200": _ok({"type": "object", "properties": {
                    "cifers": {"type": "array", "items": _CIFER}, "has_more": {"type": "boolean"},
                    "next_cursor": {"type": ["string", "null"]}}}), **_errors(400, 401, 403, 429)}},
        },
        "/v1/cifers/{cifer_id}": {
            "parameters": _PATH_ID,
            "get": {"operationId": "getCifer", "responses": {"200": _ok(_CIFER), **_errors(400, 401, 403, 404, 429)}},
            "patch": {"operationId": "updateCifer",
                      "description": "CIFER's extension: set what the body names (metadata and policy replace the "
                                     "whole map or policy); the owner or an admin. A new auto_rotate_days moves "
                                     "the next rotation to that many days after the current version was made.",
                      "parameters": [_IDEMPOTENCY_KEY],
                      "requestBody": _json_body({"$ref": "#/components/schemas/UpdateCiferRequest"}),
                      "responses": {"200": _ok(_CIFER), **_errors(400, 401, 403, 404, 410, 413, 503)}},
            "delete": {"operationId": "revokeCifer", "parameters": [
                {"name": "X-Confirm-Revocation", "in": "header", "required": True, "schema": {"const": "true"}}],
                "responses": {"200": _ok({"type": "object", "properties": {
                    "cifer_id": _CIFER_ID, "status": {"const": "revoked"}, "revoked_at": _TIME,
                    "warning": {"type": "string"}}}), **_errors(400, 401, 403, 404, 410)}},
        },
        "/v1/cifers/{cifer_id}/rotate": {"parameters": _PATH_ID, "post": {
            "operationId": "rotateCifer",
            "requestBody": _json_body({"type": "object", "additionalProperties": False, "properties": {
                "reason": {"type": "string", "maxLength": 255},
                "re_encryption_window_days": {
                    "type": "integer", "minimum": 0, "maximum": 365,
                    "description": "Absent: the cifer's policy.re_encryption_window_days, else the service's default"}}},
                required=False),
            "responses": {"200": _ok({"type": "object", "properties": {
                "cifer_id": _CIFER_ID, "old_key_version": {"type": "integer"}, "new_key_version": {"type": "integer"},
                "new_encapsulation_key": {"type": "string"}, "rotation_initiated_at": _TIME,
                "re_encryption_deadline": _TIME}}), **_errors(400, 401, 403, 404, 410, 429, 503)}}},
        "/v1/keys/{cifer_id}": {"parameters": _PATH_ID, "get": {
            "operationId": "getPublicKey", "security": [],
            "responses": {"200": _ok({"type": "object", "properties": {
                "cifer_id": _CIFER_ID, "encapsulation_key": {"type": "string", "description": "base64 SubjectPublicKeyInfo DER"},
                "key_version": {"type": "integer"}, "algorithm": {"enum": ["ML-KEM-768", "ML-KEM-1024", "X-Wing"]},
                "valid_until": {"type": ["string", "null"], "format": "date-time"}}}),
                **_errors(400, 403, 404, 410, 429)}}},
        "/v1/whoami": {"get": {
            "operationId": "whoami", "description": "The caller the credential proves, and its scopes.",
            "responses": {"200": _ok({"type": "object", "required": ["principal", "kind", "scopes"], "properties": {
                "principal": {"type": "string"}, "kind": {"enum": ["api_key", "serviceaccount", "oidc"]},
                "scopes": {"type": "array", "items": {"type": "string"}}}}), **_errors(401, 503)}}},
        "/v1/decapsulate": {"post": {
            "operationId": "decapsulate", "description": "Envelope headers in, data keys out (sidecars only).",
            "requestBody": _json_body({"type": "object", "required": ["headers"], "additionalProperties": False,
                                       "properties": {"headers": {"type": "array", "minItems": 1, "maxItems": 256,
                                                                  "items": {"type": "string", "format": "byte"}}}}),
            "responses": {"200": _ok({"type": "object", "properties": {"results": {"type": "array", "items": {
                "type": "object", "properties": {
                    "index": {"type": "integer"}, "success": {"type": "boolean"}, "cifer_id": _CIFER_ID,
                    "key_version": {"type": "integer"}, "data_key": {"type": "string", "format": "byte"},
                    "metadata": _STRINGS, "error": {"$ref": "#/components/schemas/ErrorBody"}}}}}}),
                **_errors(400, 401, 403, 404, 410, 413, 429, 503)}}},
        "/v1/rewrap": {"post": {
            "operationId": "rewrapHeader",
            "requestBody": _json_body({"type": "object", "required": ["header"], "additionalProperties": False,
                                       "properties": {"header": {"type": "string", "format": "byte"}}}),
            "responses": {"200": _ok({"type": "object", "properties": {
                "header": {"type": "string", "format": "byte"}, "cifer_id": _CIFER_ID,
                "key_version": {"type": "integer"}, "previous_key_version": {"type": "integer"}}}),
                **_errors(400, 401, 403, 404, 410, 429, 503)}}},
        "/v1/audit": {"get": {"operationId": "queryAudit", "parameters": [
            {"name": name, "in": "query", "schema": schema} for name, schema in (
                ("start_date", _SINCE), ("end_date", _SINCE), ("cifer_id", _CIFER_ID),
                ("operation", {"type": "string", "minLength": 1, "maxLength": 255}),
                ("principal", {"type": "string", "minLength": 1, "maxLength": 255}),
                ("outcome", {"enum": ["success", "denied", "failure"]}),
                ("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
                ("limit", {"type": "integer", "minimum": 1, "maximum": 500}))],
            "responses": {"200": _ok({"type": "object"}), **_errors(400, 401, 403)}}},
        "/v1/webhooks": {
            "post": {"operationId": "createWebhook", "description": "Seed §7.4; the secret is never returned.",
                     "requestBody": _json_body({"type": "object", "required": ["url", "events", "secret"],
                                                "additionalProperties": False, "properties": _WEBHOOK_FIELDS}),
                     "responses": {"201": _ok(_WEBHOOK, "Webhook registered"), **_errors(400, 401, 403, 429)}},
            "get": {"operationId": "listWebhooks", "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                {"name": "cursor", "in": "query", "schema": _WEBHOOK_ID_SCHEMA}],
                "responses": {"200": _ok({"type": "object", "properties": {
                    "webhooks": {"type": "array", "items": _WEBHOOK}, "has_more": {"type": "boolean"},
                    "next_cursor": {"type": ["string", "null"]}}}), **_errors(400, 401, 403)}},
        },
        "/v1/webhooks/{webhook_id}": {
            "parameters": _WEBHOOK_ID,
            "get": {"operationId": "getWebhook", "responses": {"200": _ok(_WEBHOOK), **_errors(400, 401, 403, 404)}},
            "patch": {"operationId": "updateWebhook",
                      "description": "Set what the body names, validated as at registration; cifer_ids: null "
                                     "removes the filter. The owner or an admin; the secret is never returned.",
                      "parameters": [_IDEMPOTENCY_KEY],
                      "requestBody": _json_body({"type": "object", "additionalProperties": False,
                                                 "properties": _WEBHOOK_FIELDS}),
                      "responses": {"200": _ok(_WEBHOOK), **_errors(400, 401, 403, 404, 413, 503)}},
            "delete": {"operationId": "deleteWebhook", "responses": {"200": _ok({"type": "object", "properties": {
                "id": {"type": "string"}, "deleted": {"const": True}, "deleted_at": _TIME}}),
                **_errors(400, 401, 403, 404)}},
        },
        "/v1/webhooks/{webhook_id}/deliveries": {"parameters": _WEBHOOK_ID, "get": {
            "operationId": "listDeliveries", "description": "Delivery status, newest first.",
            "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
            "responses": {"200": _ok({"type": "object", "properties": {"deliveries": {"type": "array", "items": {
                "type": "object", "properties": {
                    "event_id": {"type": "string"}, "type": _EVENTS, "created": _TIME,
                    "status": {"enum": ["pending", "delivered", "failed"]}, "attempts": {"type": "integer"},
                    "next_attempt_at": {"type": ["string", "null"]}, "last_error": {"type": ["string", "null"]},
                    "delivered_at": {"type": ["string", "null"]}}}}}}), **_errors(400, 401, 403, 404)}}},
        "/v1/openapi.json": {"get": {"operationId": "openapi", "security": [], "responses": {"200": {
            "description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/metrics": {"get": {"operationId": "metrics", "security": [], "responses": {"200": {
            "description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    },
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "description": "An sk_test_/sk_live_ API key, or a pod's ServiceAccount token"}},
        "schemas": {
            "Meta": {"type": "object", "required": ["request_id", "timestamp"], "properties": {
                "request_id": {"type": "string"}, "timestamp": _TIME, "version": {"type": "string"}}},
            "ErrorBody": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"enum": ["INVALID_REQUEST", "INVALID_CIFER_ID", "INVALID_CIPHERTEXT", "UNAUTHORIZED",
                                  "FORBIDDEN", "UNAUTHORIZED_DECRYPT", "NOT_FOUND", "METHOD_NOT_ALLOWED",
                                  "PAYLOAD_TOO_LARGE", "CIFER_REVOKED", "RATE_LIMIT_EXCEEDED", "INTERNAL_ERROR",
                                  "SERVICE_UNAVAILABLE"]},
                "message": {"type": "string"}, "details": {"type": "object"}}},
            "CiferPolicy": {"type": "object", "additionalProperties": False, "properties": {
                "auto_rotate_days": {"type": "integer", "minimum": 0, "maximum": 365},
                "allowed_operations": {"type": "array", "items": {"enum": ["encrypt", "decrypt", "rotate", "revoke"]}},
                "allowed_principals": {"type": "array", "maxItems": MAX_ALLOWED_PRINCIPALS, "items": {
                    "type": "string", "minLength": 1, "maxLength": MAX_PRINCIPAL_CHARS}},
                "re_encryption_window_days": {
                    "type": "integer", "minimum": 0, "maximum": 365,
                    "description": "Days a rotated-out version still decrypts when a rotation names no window "
                                   "(scheduled rotations never do); absent: the service's default"}}},
            "CreateCiferRequest": {"type": "object", "additionalProperties": False, "properties": {
                "name": {"type": "string", "maxLength": 255}, "description": {"type": "string", "maxLength": 1000},
                "metadata": _METADATA, "policy": {"$ref": "#/components/schemas/CiferPolicy"},
                "algorithm": {"enum": ["ML-KEM-768", "ML-KEM-1024", "X-Wing"]}}},
            "UpdateCiferRequest": {"type": "object", "additionalProperties": False, "properties": {
                "name": {"type": "string", "maxLength": 255}, "description": {"type": "string", "maxLength": 1000},
                "metadata": _METADATA, "policy": {"$ref": "#/components/schemas/CiferPolicy"}}},
            "Cifer": {"type": "object", "properties": {
                "cifer_id": _CIFER_ID, "name": {"type": "string"}, "description": {"type": "string"},
                "status": {"enum": ["active", "revoked"]}, "created_at": _TIME, "updated_at": _TIME,
                "owner_id": {"type": "string"}, "encapsulation_key": {"type": "string"}, "key_version": {"type": "integer"},
                "key_algorithm": {"type": "string"}, "metadata": _STRINGS, "policy": {"$ref": "#/components/schemas/CiferPolicy"},
                "statistics": {"type": "object"},
                "next_rotation_at": {"type": ["string", "null"], "format": "date-time"},
                "key_created_at": {"type": "string", "format": "date-time"}}},
        },
        "responses": {"Error": {"description": "The seed's error body", "content": {"application/json": {"schema": {
            "type": "object", "required": ["success", "error", "meta"], "properties": {
                "success": {"const": False}, "error": {"$ref": "#/components/schemas/ErrorBody"},
                "meta": {"$ref": "#/components/schemas/Meta"}}}}}}},
    },
}


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
