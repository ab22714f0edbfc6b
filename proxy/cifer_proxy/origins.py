"""Web pages may not call the sidecar: a request that carries an `Origin` header comes from a
browser, and is refused (403) unless its origin is allow-listed (`allowed_origins`, empty by
default). Together with the Host check on lent identity (identity.py) and the media-type check
of every body (415, cifer.api.middleware), a page on a workstation running the sidecar can make
it do nothing: not create, not rotate, not decrypt."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode


def refuse_other_origins(allowed: Collection[str]):
    """The middleware: 403 for an `Origin` not in `allowed` (compared exactly; `null` too)."""
    allowed = frozenset(allowed)

    @web.middleware
    async def origins(request: web.Request, handler):
        origin = request.headers.get("Origin")
        if origin is not None and origin not in allowed:
            raise ApiError(ErrorCode.FORBIDDEN, "requests from web pages are refused unless their origin is allowed",
                           details={"field": "Origin"})
        return await handler(request)

    return origins
