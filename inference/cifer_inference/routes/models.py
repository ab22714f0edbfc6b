"""GET /v1/models: the registry, with the seed's fields and what a client packs and keys by."""

from __future__ import annotations

from aiohttp import web

from cifer.fhe import protocol
from cifer_inference.routes.limits import limit
from cifer_inference.state import ENGINE

routes = web.RouteTableDef()


@routes.get(protocol.MODELS)
async def list_models(request: web.Request) -> web.Response:
    limit(request, "models", request.remote)
    models = request.app[ENGINE].models
    return web.json_response({"models": [models[model_id].describe() for model_id in sorted(models)]})
