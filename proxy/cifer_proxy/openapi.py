"""OpenAPI 3.1 for what the sidecar serves, at /v1/openapi.json.

The forwarded routes are the key service's own and are described once, in its document;
this one adds encrypt and decrypt (seed §4.3, §4.4) and leaves out what only sidecars call
(`/v1/decapsulate`, `/v1/rewrap`). A test compares these paths with the application's routes.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from cifer.envelope.format import MAX_METADATA_BYTES
from cifer_keyservice import openapi as keyservice

routes = web.RouteTableDef()
_OCTETS = {"type": "string", "format": "binary"}
_ALGORITHM = {"type": "object", "required": ["kem", "aead"], "properties": {
    "kem": {"enum": ["ML-KEM-768", "ML-KEM-1024", "X-Wing"]}, "aead": {"const": "AES-256-GCM"}}}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {**_STRINGS, "description": f"Sealed in the envelope: at most {MAX_METADATA_BYTES} bytes as canonical JSON"}
_CIFER_HEADERS = [
    {"name": "X-Cifer-Id", "in": "header", "schema": keyservice._CIFER_ID,
     "description": "The recipient; required with a binary body, checked whenever sent"},
    {"name": "X-Cifer-Metadata", "in": "header", "description": "With a binary body; checked whenever sent",
     "content": {"application/json": {"schema": _METADATA}}},
]
# Bytes as text, spelled as `encoding` says; `base64` (padded, no whitespace) when it is absent.
_SPELLINGS = {
    "base64": {"pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"},
    "hex": {"pattern": "^(?:[0-9A-Fa-f]{2})*$"},
    "utf8": {},
}
_UNSERVED = ("/v1/decapsulate", "/v1/rewrap")


def _spelled(field: str, encodings: tuple[str, ...]) -> list[dict[str, Any]]:
    """`anyOf` branches tying `field`'s spelling to `encoding` (base64 when absent)."""
    return [{"properties": {"encoding": {"const": "base64"}, field: _SPELLINGS["base64"]}}] + [
        {"required": ["encoding"], "properties": {"encoding": {"const": name}, field: _SPELLINGS[name]}}
        for name in encodings if name != "base64"]


def _binary_or_json(json_schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": json_schema},
                                          "application/octet-stream": {"schema": _OCTETS}}}


def _ok_binary_or_json(data: dict[str, Any]) -> dict[str, Any]:
    ok = keyservice._ok(data)
    ok["content"]["application/octet-stream"] = {"schema": _OCTETS}
    return ok


def _document() -> dict[str, Any]:
    document = copy.deepcopy(keyservice.DOCUMENT)
    document["info"] = {"title": "CIFER API (sidecar)", "version": document["info"]["version"],
                        "description": "Seed 000's API on 127.0.0.1:8080: encrypt and decrypt in the pod; "
                                       "lifecycle passed through to the key service."}
    for path in _UNSERVED:
        del document["paths"][path]
    document["paths"]["/v1/encrypt"] = {"post": {
        "operationId": "encryptData", "parameters": _CIFER_HEADERS,
        "requestBody": _binary_or_json({"type": "object", "required": ["cifer_id", "plaintext"],
                                        "additionalProperties": False, "properties": {
                                            "cifer_id": keyservice._CIFER_ID,
                                            "plaintext": {"type": "string"},
                                            "encoding": {"enum": ["base64", "hex", "utf8"], "default": "base64"},
                                            "metadata": _METADATA},
                                        "anyOf": _spelled("plaintext", ("base64", "hex", "utf8"))}),
        "responses": {"200": _ok_binary_or_json({"type": "object", "properties": {
            "ciphertext": {"type": "string", "description": "base64 envelope"}, "encoding": {"const": "base64"},
            "envelope_size": {"type": "integer"}, "algorithm": _ALGORITHM, "metadata": _STRINGS,
            "cifer_id": {"type": "string"}, "key_version": {"type": "integer"}}}),
            **keyservice._errors(400, 401, 403, 404, 410, 413, 429, 503)}}}
    document["paths"]["/v1/decrypt"] = {"post": {
        "operationId": "decryptData",
        "requestBody": _binary_or_json({"type": "object", "required": ["ciphertext"], "additionalProperties": False,
                                        "properties": {"ciphertext": {"type": "string", "description": "an envelope"},
                                                       "encoding": {"enum": ["base64", "hex"], "default": "base64"}},
                                        "anyOf": _spelled("ciphertext", ("base64", "hex"))}),
        "responses": {"200": _ok_binary_or_json({"type": "object", "properties": {
            "plaintext": {"type": "string"}, "encoding": {"enum": ["base64", "hex"]},
            "cifer_id": {"type": "string"}, "key_version": {"type": "integer"}, "metadata": _STRINGS}}),
            **keyservice._errors(400, 401, 403, 404, 410, 413, 429, 503)}}}
    vector = {"type": "array", "minItems": 1, "maxItems": 4096, "items": {"type": "number"}}
    document["paths"]["/v1/infer"] = {"post": {
        "operationId": "infer",
        "description": "Encrypted inference (seed 004): the features are encrypted here under the pod's CKKS key; "
                       "the inference service computes on ciphertexts only. 503 when the pod has no inference "
                       "service (annotation cifer.io/inference).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["model_id"], "additionalProperties": False,
            "properties": {"model_id": {"type": "string", "minLength": 1, "maxLength": 128}, "features": vector,
                           "inputs": {"type": "array", "minItems": 1, "maxItems": 1024, "items": vector}},
            "oneOf": [{"required": ["features"]}, {"required": ["inputs"]}]}}}},
        "responses": {"200": keyservice._ok({"type": "object", "properties": {
            "model_id": {"type": "string"}, "predicted_class": {"type": "integer"},
            "scores": {"type": "array", "items": {"type": "number"}}, "latency_ms": {"type": "number"},
            "encrypted": {"const": True}, "predictions": {"type": "array", "items": {"type": "object"}}}}),
            **keyservice._errors(400, 401, 403, 404, 413, 429, 503)}}}
    return document


DOCUMENT = _document()


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
