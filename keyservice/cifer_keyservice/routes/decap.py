"""/v1/decapsulate and /v1/rewrap: what sidecars call with envelope headers (never payloads).

`POST /v1/decapsulate {"headers": [base64, ...]}` answers each header on its own:
`{"results": [{"index", "success": true, "cifer_id", "key_version", "data_key", "metadata"} |
{"index", "success": false, "error": {...}}]}`. With a single header, a failure is the
response's own status and error body, as for any other call.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from cifer.api import response
from cifer_keyservice import requests as parse
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import DECAP, SETTINGS

routes = web.RouteTableDef()


def _b64(value: object) -> bytes:
    """A header's bytes; undecodable base64 becomes bytes no header parser accepts."""
    if not isinstance(value, str):
        return b""
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        return b""


@routes.post("/v1/decapsulate")
async def decapsulate(request: web.Request) -> web.Response:
    body = await parse.json_object(request)
    headers = body.get("headers")
    limit = request.app[SETTINGS].max_batch_headers
    if set(body) != {"headers"} or not isinstance(headers, list) or not 1 <= len(headers) <= limit:
        raise parse.invalid("headers", f"must be a list of 1 to {limit} base64 envelope headers")
    items = await request.app[DECAP].open_headers(caller(request), [_b64(h) for h in headers])
    if len(items) == 1 and items[0].error is not None:
        raise items[0].error
    results = [item.result() for item in items]
    for result in results:
        if result["success"]:
            result["data_key"] = base64.b64encode(result["data_key"]).decode()
    return response.ok(request, {"results": results})


@routes.post("/v1/rewrap")
async def rewrap(request: web.Request) -> web.Response:
    body = await parse.json_object(request)
    if set(body) != {"header"}:
        raise parse.invalid("header", "must be the one field: a base64 envelope header")
    result = await request.app[DECAP].rewrap(caller(request), _b64(body["header"]))
    result["header"] = base64.b64encode(result["header"]).decode()
    return response.ok(request, result)
