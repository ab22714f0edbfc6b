"""/v1/whoami: who the credential proves the caller to be, and with which scopes.

Kubernetes' SelfSubjectReview and Vault's `token/lookup-self`, for CIFER: a sidecar asks it to
check a credential it cannot check itself (an API key, a token) before it encrypts locally."""

import math

from aiohttp import web

from cifer.api import response
from cifer.api.endpoints import WHOAMI, route
from cifer_keyservice.auth.principal import PRINCIPAL

routes = web.RouteTableDef()


@route(routes, WHOAMI)
async def whoami(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    resp = response.ok(request, {"principal": principal.id, "kind": principal.kind, "scopes": sorted(principal.scopes)})
    if principal.reuse_s is not None:  # a sidecar caching this answer keeps it no longer than it holds here
        resp.headers["Cache-Control"] = f"private, max-age={math.floor(principal.reuse_s)}"
    return resp
