"""/v1/decapsulate and /v1/rewrap: what sidecars call with envelope headers (never payloads).

`POST /v1/decapsulate {"headers": [base64, ...], "recipient": {"suite", "public_key"}}` answers
each header on its own: `{"results": [{"index", "success": true, "cifer_id", "key_version",
"sealed_data_key", "metadata"} | {"index", "success": false, "error": {...}}]}`. Data keys leave
only sealed to the requester's `recipient` (docs/key-release.md); never in clear. With a single
header, a failure is the response's own status and error body, as for any other call.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from typing import Any

from aiohttp import web

from cifer.api.endpoints import DECAPSULATE, REWRAP, route
from cifer.api.errors import ErrorCode
from cifer.api import response
from cifer.api.parsing import invalid, json_object
from cifer.keyrelease import InvalidKeyRelease, ReleaseRecipient, parse_recipient
from cifer_keyservice.decap import Item
from cifer_keyservice.ratelimit import REFUSED_FOR_POLICY
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import DECAP, SECURITY_CONFIG
from cifer_keyservice.wire_errors import error_body

routes = web.RouteTableDef()
CONTEXT_BOUNDS = {"purpose": 255, "user_id": 128}  # characters of each context field


def _b64(value: object) -> bytes:
    """A header's bytes; undecodable base64 becomes bytes no header parser accepts."""
    if not isinstance(value, str):
        return b""
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        return b""


def _result(item: Item, recipient: ReleaseRecipient, header: bytes) -> dict[str, Any]:
    if item.error is not None:
        return {"index": item.index, "success": False, "error": error_body(item.error)}
    return {"index": item.index, "success": True, "cifer_id": item.header.cifer_id,
            "key_version": item.header.key_version, "sealed_data_key": recipient.seal(item.data_key, header),
            "metadata": dict(item.header.metadata), "audit_record_id": str(item.audit_seq)}


def _contexts(value: Any, count: int) -> list[dict[str, str] | None] | None:
    """`contexts`: per header, null or why and for whom it is opened (seed 001's accessPurpose and
    userId), recorded in its audit record."""
    if value is None:
        return None
    problem = f"must be a list of {count} objects ({{purpose, user_id}}) or nulls, one per header"
    if not isinstance(value, list) or len(value) != count:
        raise invalid("contexts", problem)
    out: list[dict[str, str] | None] = []
    for context in value:
        if context is not None and not (
                isinstance(context, dict) and set(context) <= set(CONTEXT_BOUNDS)
                and all(isinstance(v, str) and 0 < len(v) <= CONTEXT_BOUNDS[k] for k, v in context.items())):
            raise invalid("contexts", problem)
        out.append(context)
    return out


@route(routes, DECAPSULATE)
async def decapsulate(request: web.Request) -> web.Response:
    body = await json_object(request)
    headers = body.get("headers")
    limit = request.app[SECURITY_CONFIG].batch_limit
    if not set(body) <= {"headers", "recipient", "contexts"} or not isinstance(headers, list) or not 1 <= len(headers) <= limit:
        raise invalid("headers", f"must be a list of 1 to {limit} base64 envelope headers")
    contexts = _contexts(body.get("contexts"), len(headers))
    try:
        recipient = parse_recipient(body.get("recipient"))
    except InvalidKeyRelease as err:
        raise invalid(err.field, err.problem) from None
    raw = [_b64(h) for h in headers]
    items = await request.app[DECAP].open_headers(caller(request), raw, contexts=contexts)
    if len(items) == 1 and items[0].error is not None:
        raise items[0].error
    refused = Counter(item.header.cifer_id for item in items if item.error is not None and item.header is not None
                      and ErrorCode[item.error.code].status == 403)
    if refused:  # no use of the decrypt quota (ratelimit.py)
        request[REFUSED_FOR_POLICY] = refused
    return response.ok(request, {"results": [_result(item, recipient, raw[item.index]) for item in items]})


@route(routes, REWRAP)
async def rewrap(request: web.Request) -> web.Response:
    body = await json_object(request)
    if set(body) != {"header"}:
        raise invalid("header", "must be the one field: a base64 envelope header")
    rewrapped = await request.app[DECAP].rewrap(caller(request), _b64(body["header"]))
    return response.ok(request, {"header": base64.b64encode(rewrapped.header).decode(), "cifer_id": rewrapped.cifer_id,
                                 "key_version": rewrapped.key_version,
                                 "previous_key_version": rewrapped.previous_key_version})
