"""Schemathesis hooks and a check for test_openapi_contract.py, loaded by `schemathesis run`
through SCHEMATHESIS_HOOKS.

The hooks mix things that exist into the generated requests, so that the run reaches past
"not found" into encryption, decryption, rotation and revocation, and they follow the two rules
the document states in prose (no schema can): a binary body to encrypt names its recipient in
X-Cifer-Id, and an idempotency key is reused only for the same request.

What exists is read from the JSON file named by CIFER_CONTRACT_KNOWN, written by the test:
`cifer_id` (the cifer every operation but revocation and update uses), `doomed` (cifers to
revoke), `updatable` (the cifer updates change), `ciphertext` (base64, sealed to `cifer_id`),
`webhook_id`, and for seed 001: `user_id` (a user with a health-data key `key_id`),
`encrypted_data` (what /api/security/encrypt answered for that user), `rotating_key` (the key
rotations rotate), `doomed_keys` (keys to revoke, each at version 1), `alert_id` (an alert to
resolve) and `report` (a CSV report's id and its download URL's `expires` and `signature`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from typing import Any

import schemathesis
from hypothesis import strategies as st

from cifer.envelope.format import CIFER_ID_RE

KNOWN: dict[str, Any] = json.loads(open(os.environ["CIFER_CONTRACT_KNOWN"]).read())
IDEMPOTENCY_KEY = "X-Idempotency-Key"
_WELL_FORMED_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")


def _phase(case) -> str:
    return case.meta.phase.name.value if case.meta is not None else ""


def _positive(case) -> bool:
    return case.meta is not None and case.meta.generation.mode == schemathesis.GenerationMode.POSITIVE


def _valid(case, location: str) -> bool:
    """Whether the case's `location` (path, query, header, body) holds valid data. Only such a part
    is swapped: schemathesis keeps its account of what it made invalid, and would misread a swap there."""
    component = case.meta.components.get(location) if case.meta is not None else None
    return component is None or component.mode == schemathesis.GenerationMode.POSITIVE


def swaps(case) -> list[tuple[str, Any]]:
    """(attribute, new value) pairs, each making `case` name something that exists."""
    if _phase(case) == "stateful":  # its ids come from the responses it follows: keep them
        return []
    found: list[tuple[str, Any]] = []
    path = case.path_parameters if _valid(case, "path") else {}
    query = case.query if _valid(case, "query") else {}
    headers = case.headers if _valid(case, "header") and _positive(case) else {}
    body = case.body if _valid(case, "body") else None
    if "cifer_id" in path:  # revoking the cifer every other operation uses would end the run's reach,
        # and so would an update taking `encrypt` or `decrypt` out of its policy: each has cifers of its own.
        targets = {"DELETE": KNOWN["doomed"], "PATCH": [KNOWN["updatable"]]}.get(case.method.upper(),
                                                                                 [KNOWN["cifer_id"]])
        for target in targets:
            found.append(("path_parameters", {**path, "cifer_id": target}))
    if "webhook_id" in path:
        found.append(("path_parameters", {**path, "webhook_id": KNOWN["webhook_id"]}))
    if "cifer_id" in query:
        found.append(("query", {**query, "cifer_id": KNOWN["cifer_id"]}))
    if case.path == "/v1/encrypt" and isinstance(body, dict):
        found.append(("body", {**body, "cifer_id": KNOWN["cifer_id"]}))
    if case.path == "/v1/encrypt" and "X-Cifer-Id" in headers:
        found.append(("headers", {**headers, "X-Cifer-Id": KNOWN["cifer_id"]}))
    if "keyId" in path:  # a revocation needs its confirmation too (substitute); a rotation (gracePeriodDays 0
        # retires the old version at once) has a key of its own, so `encrypted_data` always opens
        targets = (KNOWN["doomed_keys"] if case.method.upper() == "DELETE" else
                   [KNOWN["rotating_key"]] if case.path.endswith("/rotate") else [KNOWN["key_id"]])
        for target in targets:
            found.append(("path_parameters", {**path, "keyId": target}))
    if "keyId" in query:
        found.append(("query", {**query, "keyId": KNOWN["key_id"]}))
    if "alertId" in path:
        found.append(("path_parameters", {**path, "alertId": KNOWN["alert_id"]}))
    if "reportId" in path:  # its signed query goes with it (substitute)
        found.append(("path_parameters", {**path, "reportId": KNOWN["report"]["report_id"]}))
    if case.path == "/api/security/keys" and "userId" in query:
        found.append(("query", {**query, "userId": KNOWN["user_id"], "keyType": "health-data"}))
    if case.path == "/api/security/encrypt" and isinstance(body, dict):
        found.append(("body", {**{k: v for k, v in body.items() if k not in ("keyId", "fields")},
                               "userId": KNOWN["user_id"], "dataType": "health"}))
    if case.path == "/api/security/decrypt" and isinstance(body, dict):
        found.append(("body", {**{k: v for k, v in body.items() if k != "additionalAuthenticatedData"},
                               "encryptedData": KNOWN["encrypted_data"], "userId": KNOWN["user_id"]}))
    if case.path == "/v1/decrypt":
        envelope = base64.b64decode(KNOWN["ciphertext"])
        if isinstance(body, dict):
            found.append(("body", {**body, "ciphertext": KNOWN["ciphertext"], "encoding": "base64"}))
            found.append(("body", {**body, "ciphertext": envelope.hex(), "encoding": "hex"}))
        elif isinstance(body, bytes):
            found.append(("body", envelope))
    return found


def substitute(case, choice: int):
    """`case` as generated (choice 0) or with one of its swaps, assigned whole so that
    schemathesis re-checks whether the case is still valid or invalid data. A swap makes another
    request, so its idempotency key is made again (map_case has run on the case as generated)."""
    if choice:
        attribute, value = swaps(case)[choice - 1]
        setattr(case, attribute, value)
        if (attribute == "path_parameters" and case.method.upper() == "DELETE" and "keyId" in value
                and isinstance(case.body, dict) and _valid(case, "body")):
            case.body = {**case.body, "confirmationCode": f"{value['keyId']}:1"}
        if attribute == "path_parameters" and "reportId" in value and _valid(case, "query"):
            case.query = {**(case.query or {}), "expires": KNOWN["report"]["expires"],
                          "signature": KNOWN["report"]["signature"]}
        if _positive(case):
            _key_for_the_request(case)
    return case


def _key_for_the_request(case) -> None:
    """An idempotency key is reused only for the same request: a well-formed one gets a digest of
    the request appended, so two requests never share a key the server would refuse (400)."""
    headers = dict(case.headers or {})
    key = headers.get(IDEMPOTENCY_KEY)
    if isinstance(key, str) and _WELL_FORMED_KEY.fullmatch(key):
        request = repr((case.method, case.formatted_path, case.media_type, case.body)).encode()
        headers[IDEMPOTENCY_KEY] = f"{key[:238]}.{hashlib.sha256(request).hexdigest()[:16]}"
        case.headers = headers


@schemathesis.hook
def filter_case(context, case):
    """Drop what schemathesis 4.32.5 mislabels."""
    # Its coverage phase offers "0" as a valid value of an optional header with a pattern (its
    # default positive case); X-Cifer-Id is one. That is not valid data.
    cifer_id = (case.headers or {}).get("X-Cifer-Id")
    if _positive(case) and isinstance(cifer_id, str) and not CIFER_ID_RE.fullmatch(cifer_id):
        return False
    return not _json_as_bytes(case)


def _json_as_bytes(case) -> bool:
    # Schemathesis' stateful links put a JSON object ({"cifer_id": ...}) where a binary body goes
    # and call it invalid data; sent as application/octet-stream it is just bytes, as any may be.
    return case.media_type == "application/octet-stream" and isinstance(case.body, (dict, list))


@schemathesis.hook
def before_call(context, case, kwargs):
    if _json_as_bytes(case):  # a link's body arrives after the filters: send the object as what it is
        case.media_type = "application/json"
        if any(name.lower() == "content-type" for name in case.headers or {}):
            case.headers = {name: value for name, value in case.headers.items() if name.lower() != "content-type"}
        case.body = dict(case.body)


@schemathesis.hook
def flatmap_case(context, case):
    # Three in four cases that can name something real do: an operation whose valid bodies are
    # rare (a decryption needs a real envelope) is then still reached in every run's few cases.
    count = len(swaps(case))
    if not count:
        return st.just(case)
    return st.sampled_from([0, *(choice for choice in range(1, count + 1) for _ in range(3))]).map(
        lambda choice: substitute(case, choice))


@schemathesis.hook
def map_case(context, case):
    # Valid data only: any edit of the headers makes schemathesis re-judge them, and the credential
    # it added would turn a case built to lack one into a valid case.
    if not _positive(case):
        return case
    headers = dict(case.headers or {})
    if case.path == "/v1/encrypt" and case.media_type == "application/octet-stream" and "X-Cifer-Id" not in headers:
        headers["X-Cifer-Id"] = KNOWN["cifer_id"]
    if headers != dict(case.headers or {}):
        case.headers = headers
    _key_for_the_request(case)
    return case


@schemathesis.check
def a_valid_ciphertext_is_refused_only_as_not_an_envelope(ctx, response, case):
    """Whether a ciphertext is an envelope is cryptography, not shape: a schema-valid one may be
    refused (the run's config lets decrypt answer 400 to valid data), but only as INVALID_CIPHERTEXT."""
    if case.path != "/v1/decrypt" or response.status_code != 400 or not _positive(case):
        return None
    code = json.loads(response.content)["error"]["code"]
    assert code == "INVALID_CIPHERTEXT", f"a schema-valid decrypt request refused as {code}"
    return None
