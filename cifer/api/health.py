"""`GET /v1/health`: unauthenticated; 200 while every named check passes, 503 otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

import cifer
from cifer.api.endpoints import HEALTH, route
from cifer.api import response
from cifer.api.errors import ApiError, ErrorCode

HealthCheck = Callable[[], Awaitable[None]]  # raises when its component cannot serve
HEALTH_CHECKS = web.AppKey("health_checks", Mapping[str, HealthCheck])

routes = web.RouteTableDef()


@route(routes, HEALTH)
async def health(request: web.Request) -> web.Response:
    results = {}
    for name, check in request.app[HEALTH_CHECKS].items():
        try:
            await check()
            results[name] = "ok"
        except Exception:  # the check's reason is for the server log, not the caller
            request.app.logger.exception("health check %s failed", name)
            results[name] = "failing"
    if any(state != "ok" for state in results.values()):
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, details={"checks": results})
    return response.ok(request, {"status": "healthy", "version": cifer.__version__, "checks": results})
