"""Lifecycle calls passed through to the key service with the caller's identity: cifers,
webhooks, audit, public keys, whoami. The key service decides everything; the sidecar only
learns from what passes: a rotation, a revocation or a 410 drops its cached public key at once.
"""

from __future__ import annotations


from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode
from cifer.api.response import REQUEST_ID
from cifer_proxy.keyservice import response_body
from cifer_proxy.state import IDENTITY, KEYSERVICE, PUBLIC_KEYS

# (method, path) of every forwarded route: the sidecar's whole API but encrypt and decrypt.
FORWARDED = (
    ("GET", "/v1/cifers"), ("POST", "/v1/cifers"), ("GET", "/v1/cifers/{cifer_id}"),
    ("PATCH", "/v1/cifers/{cifer_id}"), ("DELETE", "/v1/cifers/{cifer_id}"), ("POST", "/v1/cifers/{cifer_id}/rotate"),
    ("GET", "/v1/keys/{cifer_id}"), ("GET", "/v1/whoami"), ("GET", "/v1/audit"),
    ("GET", "/v1/webhooks"), ("POST", "/v1/webhooks"), ("GET", "/v1/webhooks/{webhook_id}"),
    ("PATCH", "/v1/webhooks/{webhook_id}"), ("DELETE", "/v1/webhooks/{webhook_id}"),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
)
REQUEST_HEADERS = ("Content-Type", "X-Idempotency-Key", "X-Confirm-Revocation")
# An update may take `encrypt` out of the policy: the cached key must not outlive that either.
_MOVES_KEY = {("DELETE", "/v1/cifers/{cifer_id}"), ("POST", "/v1/cifers/{cifer_id}/rotate"),
              ("PATCH", "/v1/cifers/{cifer_id}")}


async def forward(request: web.Request) -> web.Response:
    app = request.app
    body = await request.read() if request.can_read_body else None  # bounded: 413 past the limit
    headers = {name: request.headers[name] for name in REQUEST_HEADERS if name in request.headers}
    headers["X-Request-ID"] = request[REQUEST_ID]
    credential = app[IDENTITY].credential(request)
    if credential is not None:
        headers["Authorization"] = credential
    status, answer, passed = await app[KEYSERVICE].call(request.method, request.raw_path, headers=headers, body=body)
    if "success" not in response_body(answer):
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service answered without a CIFER body")
    cifer_id = request.match_info.get("cifer_id")
    route = (request.method, request.match_info.route.resource.canonical)
    if cifer_id and (status == 410 or (status < 300 and route in _MOVES_KEY)):
        app[PUBLIC_KEYS].forget(cifer_id)
    return web.Response(status=status, body=answer, content_type="application/json", headers=passed)


def add_routes(app: web.Application) -> None:
    for method, path in FORWARDED:
        app.router.add_route(method, path, forward)
