"""The key service's domain errors on the wire, in one place: each error's seed code gives the
status and default message through the one table of codes (`cifer.api.errors.ErrorCode`), its
message and details make the body; the middleware applies this to every handler."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cifer.api import response
from cifer.api.errors import ApiError, ErrorCode
from cifer_keyservice import errors

CONFIRM_REVOCATION = "X-Confirm-Revocation"


def api_error(err: errors.KeyServiceError) -> ApiError:
    if isinstance(err, errors.Unconfirmed):  # the confirmation travels in a header: the edge names it
        return ApiError(ErrorCode.INVALID_REQUEST, f"revocation is irreversible: send {CONFIRM_REVOCATION}: true",
                        details={"header": CONFIRM_REVOCATION})
    return ApiError(ErrorCode[err.code], err.message, err.details)


def error_body(err: errors.KeyServiceError) -> dict[str, Any]:
    """The seed's `error` object, for an answer that holds several (a decapsulation batch)."""
    return response.error_object(api_error(err))


@web.middleware
async def domain_errors(request: web.Request, handler):
    """Innermost: a domain error leaves the handler as the `ApiError` every outer middleware
    knows (idempotency keeps a refusal's body, the renderer writes it)."""
    try:
        return await handler(request)
    except errors.KeyServiceError as err:
        raise api_error(err) from None
