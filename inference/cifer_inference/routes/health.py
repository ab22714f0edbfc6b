"""GET /v1/health: never rate-limited."""

from __future__ import annotations

from aiohttp import web

import cifer
from cifer.fhe import protocol

routes = web.RouteTableDef()


@routes.get(protocol.HEALTH)
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "healthy", "version": cifer.__version__, "backend": protocol.BACKEND})
