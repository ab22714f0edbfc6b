"""Cross-cutting manners of every CIFER service, and the one place their order is written.

Request ids come first so that every response, errors included, carries one; the error
renderer turns domain exceptions into the seed's error body and never echoes exception text.
Then the body's manners, judged from the head alone, before anything is read or authenticated:
a body announced larger than the application reads whole is a 413 at once, the connection
closed unread; and where a service asks for it (the sidecar), its media type must be one the
endpoint table declares for the route (415 otherwise: a browser can send `text/plain` cross-site
without asking, never `application/json`).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence

from aiohttp import web

from cifer.api import endpoints, metrics, response
from cifer.api.errors import ApiError, ErrorCode
from cifer.exceptions import InvalidCiphertext, KeystoreUnavailable

log = logging.getLogger("cifer.api")
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HTTP_ERRORS = {
    404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}
MAX_BODY_BYTES = web.AppKey("max_body_bytes", int)  # the largest body an application reads whole
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
# (method, path) -> the media types its request body may have, as the endpoint table declares them
_MEDIA_TYPES = {e.key: frozenset(e.operation.get("requestBody", {}).get("content", ())) or frozenset({JSON})
                for e in endpoints.ENDPOINTS}


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def accepted_request_id(offered: str | None) -> str:
    """A caller's request id if it is well-formed (REST's X-Request-ID, gRPC's x-request-id), else a new one."""
    return offered if offered and _CLIENT_REQUEST_ID.fullmatch(offered) else new_request_id()


@web.middleware
async def request_id(request: web.Request, handler):
    """Echo a well-formed client `X-Request-ID`, otherwise assign one."""
    rid = accepted_request_id(request.headers.get("X-Request-ID"))
    request[response.REQUEST_ID] = rid
    try:
        return await handler(request)
    except web.HTTPException as exc:  # routing errors and the like still carry the id
        exc.headers["X-Request-ID"] = rid
        raise


async def _stamp_request_id(request: web.Request, resp: web.StreamResponse) -> None:
    """Every response carries its request's id, streamed ones too (their head is sent before
    the handler returns, so a middleware would be too late)."""
    if response.REQUEST_ID in request:
        resp.headers["X-Request-ID"] = request[response.REQUEST_ID]


@web.middleware
async def errors(request: web.Request, handler):
    """Every failure becomes the seed's error body; a client mistake is never a 500."""
    try:
        return await handler(request)
    except ApiError as err:
        if err.code is ErrorCode.PAYLOAD_TOO_LARGE:
            return await answer_and_close(request, response.error(request, err, headers=err.headers or None))
        return response.error(request, err, headers=err.headers or None)
    except InvalidCiphertext:
        return response.error(request, ApiError(ErrorCode.INVALID_CIPHERTEXT))
    except KeystoreUnavailable:
        log.exception("keystore unavailable")
        return response.error(request, ApiError(ErrorCode.SERVICE_UNAVAILABLE))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_ERRORS.get(exc.status, ErrorCode.INVALID_REQUEST if exc.status < 500 else ErrorCode.INTERNAL_ERROR)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        answer = response.error(request, ApiError(code), headers=headers)
        return await answer_and_close(request, answer) if exc.status == 413 else answer
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return response.error(request, ApiError(ErrorCode.INTERNAL_ERROR))


async def answer_and_close(request: web.BaseRequest, answer: web.StreamResponse) -> web.StreamResponse:
    """Sends `answer` now and closes our side of the connection (FIN) after it, nginx's lingering
    close: the client sees the end at once, and what it still sends of the body is dropped unread
    for at most aiohttp's lingering time, never parsed, so a client that sent it whole is not
    reset before it reads the answer."""
    answer.force_close()
    await answer.prepare(request)
    await answer.write_eof()
    transport = request.transport
    if transport is not None and transport.can_write_eof():  # TLS cannot half-close: Connection: close says it
        transport.write_eof()
    return answer


def body_too_large(request: web.BaseRequest, max_bytes: int) -> bool:
    """A body announced (Content-Length) larger than `max_bytes`: refuse it before reading any."""
    return request.content_length is not None and request.content_length > max_bytes


def _declared(request: web.Request) -> frozenset[str] | None:
    """The media types the endpoint table declares for the request's route; None: not in the table."""
    resource = request.match_info.route.resource
    return None if resource is None else _MEDIA_TYPES.get((request.method, resource.canonical))


def _streams(request: web.Request) -> bool:
    return request.content_type == OCTET_STREAM and OCTET_STREAM in (_declared(request) or ())


@web.middleware
async def bounded_bodies(request: web.Request, handler):
    """413 at once for a body the application reads whole that is announced larger than it reads
    (a binary body streams, unbounded, where the endpoint table says binary is served)."""
    max_bytes = request.app.get(MAX_BODY_BYTES)
    if max_bytes is not None and not _streams(request) and body_too_large(request, max_bytes):
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, details={"max_bytes": max_bytes})
    return await handler(request)


@web.middleware
async def declared_media_types(request: web.Request, handler):
    """415 for a body whose media type the endpoint table does not declare for its route (JSON
    where it declares none). For a server that acts on a request without a credential in it (the
    sidecar lending its pod's identity): a browser sends `text/plain` cross-site unasked."""
    if request.body_exists:
        media_types = _declared(request)
        # an absent Content-Type is aiohttp's octet-stream: named, or refused
        if media_types is not None and ("Content-Type" not in request.headers
                                        or request.content_type not in media_types):
            raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"the body must be {' or '.join(sorted(media_types))}",
                           details={"field": "Content-Type"})
    return await handler(request)


def new_app(*, max_body_bytes: int, inner: Sequence = ()) -> web.Application:
    """An application with CIFER's middlewares, outermost first: request id, metrics (so every
    final status is counted), error rendering, the bound on bodies, then a service's own (`inner`:
    media types, authentication, rate limits...), in their order. /metrics is served too."""
    app = web.Application(middlewares=[request_id, metrics.measure, errors, bounded_bodies, *inner],
                          client_max_size=max_body_bytes)
    app[MAX_BODY_BYTES] = max_body_bytes
    app.on_response_prepare.append(_stamp_request_id)
    metrics.install(app)
    return app
