"""Lifecycle calls passed through to the key service with the caller's identity: cifers,
webhooks, audit, public keys, whoami. The key service decides everything; the sidecar only
learns from what passes: a rotation, a revocation or a 410 drops its cached public key at once.
"""

from __future__ import annotations

from aiohttp import web

from cifer.api import endpoints
from cifer.api.endpoints import Sidecar
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.response import REQUEST_ID
from cifer_proxy.keyservice import response_body
from cifer_proxy.state import IDENTITY, KEYSERVICE, PUBLIC_KEYS

REQUEST_HEADERS = ("Content-Type", "X-Idempotency-Key", "X-Confirm-Revocation")
# What the endpoint table says the sidecar passes through.
FORWARDED = tuple(e for e in endpoints.ENDPOINTS
                  if e.sidecar in (Sidecar.FORWARD, Sidecar.FORWARD_MOVES_KEY, Sidecar.FORWARD_FILE))
FILE_HEADERS = ("Content-Type", "Content-Disposition", "Cache-Control")  # a file's, passed back as they are
MAX_FILE_BYTES = 32 * 1024 * 1024  # the key service's largest report
# OAuth 2.0's endpoints: a browser's form and cookies, or a client's own credentials, pass through.
OAUTH_REQUEST_HEADERS = ("Content-Type", "Cookie", "Authorization", "Accept", "User-Agent")
OAUTH_ANSWER_HEADERS = ("Content-Type", "Set-Cookie", "Location", "Cache-Control", "Pragma", "WWW-Authenticate",
                        "Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                        "Retry-After")


async def forward_oauth(request: web.Request) -> web.Response:
    """An OAuth 2.0 endpoint's request and answer, as they are. The pod's identity is never lent:
    the caller is a browser or a client that authenticates itself."""
    body = await request.read() if request.can_read_body else None
    headers = {name: request.headers[name] for name in OAUTH_REQUEST_HEADERS if name in request.headers}
    headers["X-Request-ID"] = request[REQUEST_ID]
    headers["X-Forwarded-For"] = request.remote or ""
    status, answer, passed = await request.app[KEYSERVICE].relay(request.method, request.raw_path, headers=headers,
                                                                 body=body, keep=OAUTH_ANSWER_HEADERS)
    response = web.Response(status=status, body=answer)
    for name, value in passed:
        response.headers.add(name, value)
    return response


async def forward(request: web.Request) -> web.Response:
    app = request.app
    body = await request.read() if request.can_read_body else None  # bounded: 413 past the limit
    headers = {name: request.headers[name] for name in REQUEST_HEADERS if name in request.headers}
    headers["X-Request-ID"] = request[REQUEST_ID]
    # Where the caller reached the API, for URLs the key service answers with (a report's downloadUrl).
    headers["X-Forwarded-Host"], headers["X-Forwarded-Proto"] = request.host, request.scheme
    credential = app[IDENTITY].credential(request)
    if credential is not None:
        headers["Authorization"] = credential
    kind = endpoints.endpoint_of(request, endpoints.SIDECAR).sidecar
    file = kind is Sidecar.FORWARD_FILE
    status, answer, passed = await app[KEYSERVICE].call(
        request.method, request.raw_path, headers=headers, body=body,
        **({"keep": FILE_HEADERS, "max_bytes": MAX_FILE_BYTES} if file else {}))
    if file and status == 200:
        return web.Response(status=status, body=answer, headers=passed)
    passed = {name: value for name, value in passed.items() if name not in FILE_HEADERS}
    if "success" not in response_body(answer):
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service answered without a CIFER body")
    cifer_id = request.match_info.get("cifer_id") or request.match_info.get("keyId")  # seed 001 calls it keyId
    if cifer_id and (status == 410 or (status < 300 and kind is Sidecar.FORWARD_MOVES_KEY)):
        app[PUBLIC_KEYS].forget(cifer_id)
    return web.Response(status=status, body=answer, content_type="application/json", headers=passed)


def add_routes(app: web.Application) -> None:
    for endpoint in FORWARDED:
        app.router.add_route(endpoint.method, endpoint.route_path, forward)
    for endpoint in endpoints.ENDPOINTS:
        if endpoint.sidecar is Sidecar.FORWARD_OAUTH:
            app.router.add_route(endpoint.method, endpoint.route_path, forward_oauth)
