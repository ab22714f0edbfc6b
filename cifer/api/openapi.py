"""OpenAPI 3.1 documents generated from the endpoint table, one per server, served at
/v1/openapi.json."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

import cifer
from cifer.api import endpoints
from cifer.api.schemas import COMPONENTS

_INFO = {
    endpoints.KEYSERVICE: ("CIFER key service",
                           "Key lifecycle, decapsulation for sidecars, audit. The only place a private key is unwrapped."),
    endpoints.SIDECAR: ("CIFER API (sidecar)",
                        "Seed 000's API on 127.0.0.1:8080: encrypt and decrypt in the pod; lifecycle passed "
                        "through to the key service."),
}


def document(server: str) -> dict[str, Any]:
    """The document of what `server` (endpoints.KEYSERVICE or endpoints.SIDECAR) serves."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints.served_by(server):
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = copy.deepcopy(dict(endpoint.operation))
    title, description = _INFO[server]
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": cifer.__version__, "description": description},
        "security": [{"bearerAuth": []}, {"oauth2": []}],  # either; the scope each needs is the endpoint's
        "paths": paths,
        "components": copy.deepcopy(COMPONENTS),
    }


def routes(server: str) -> web.RouteTableDef:
    """The route that serves `server`'s document, built once."""
    body = document(server)
    table = web.RouteTableDef()

    @endpoints.route(table, endpoints.OPENAPI)
    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(body)

    return table
