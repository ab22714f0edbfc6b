"""Cross-cutting manners of every CIFER service, and the one place their order is written.

Request ids come first so that every response, errors included, carries one; the error
renderer turns domain exceptions into the seed's error body and never echoes exception text.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence

from aiohttp import web

from cifer.api import metrics, response
from cifer.api.errors import ApiError, ErrorCode
from cifer.exceptions import InvalidCiphertext, KeystoreUnavailable

log = logging.getLogger("cifer.api")
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HTTP_ERRORS = {
    404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 413: ErrorCode.PAYLOAD_TOO_LARGE,
}


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


@web.middleware
async def request_id(request: web.Request, handler):
    """Echo a well-formed client `X-Request-ID`, otherwise assign one."""
    offered = request.headers.get("X-Request-ID", "")
    rid = offered if _CLIENT_REQUEST_ID.fullmatch(offered) else new_request_id()
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
        return response.error(request, ApiError(code), headers=headers)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return response.error(request, ApiError(ErrorCode.INTERNAL_ERROR))


def new_app(*, max_body_bytes: int, inner: Sequence = ()) -> web.Application:
    """An application with CIFER's middlewares, outermost first: request id, metrics (so every
    final status is counted), error rendering, then a service's own (`inner`: authentication,
    rate limits...), in their order. /metrics is served too."""
    app = web.Application(middlewares=[request_id, metrics.measure, errors, *inner], client_max_size=max_body_bytes)
    app.on_response_prepare.append(_stamp_request_id)
    metrics.install(app)
    return app
