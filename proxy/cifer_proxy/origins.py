"""Web pages may not call the sidecar: a request that carries an `Origin` header comes from a
browser, and is refused (403) unless its origin is allow-listed (`allowed_origins`, empty by
default). Together with the Host check on lent identity (identity.py) and the media-type check
of every body (415, cifer.api.middleware), a page on a workstation running the sidecar can make
it do nothing: not create, not rotate, not decrypt.

OAuth 2.0's endpoints are the exception (Sidecar.FORWARD_OAUTH): the login page posts its forms
from its own origin, and they never lend the pod's identity, so there is nothing to borrow."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from cifer.api import endpoints
from cifer.api.errors import ApiError, ErrorCode


def _oauth(request: web.Request) -> bool:
    endpoint = endpoints.endpoint_of(request, endpoints.SIDECAR)
    return endpoint is not None and endpoint.sidecar is endpoints.Sidecar.FORWARD_OAUTH


def refuse_other_origins(allowed: Collection[str]):
    """The middleware: 403 for an `Origin` not in `allowed` (compared exactly; `null` too)."""
    allowed = frozenset(allowed)

    @web.middleware
    async def origins(request: web.Request, handler):
        origin = request.headers.get("Origin")
        if origin is not None and origin not in allowed and not _oauth(request):
            raise ApiError(ErrorCode.FORBIDDEN, "requests from web pages are refused unless their origin is allowed",
                           details={"field": "Origin"})
        return await handler(request)

    return origins
