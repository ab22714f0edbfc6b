"""/v1/cifers: seed §4.1, §4.2, §4.5, §4.6, the list, and CIFER's update (PATCH)."""

from __future__ import annotations

from aiohttp import web

from cifer.api import response
from cifer_keyservice import requests as parse
from cifer_keyservice.cifers import MAX_PAGE
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import CIFERS, SETTINGS

routes = web.RouteTableDef()


@routes.post("/v1/cifers")
async def create(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = parse.CreateCifer.parse(await parse.json_object(request, required=True),  # seed §4.1: the body is required
                                   default_algorithm=settings.default_suite)
    return response.ok(request, await request.app[CIFERS].create(caller(request), body), status=201)


@routes.get("/v1/cifers")
async def list_cifers(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status")
    if status not in (None, "active", "revoked"):
        raise parse.invalid("status", "must be active or revoked")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise parse.invalid("limit", f"must be an integer from 1 to {MAX_PAGE}")
    cursor = query.get("cursor")
    if cursor is not None:
        cursor = parse.cifer_id(cursor)
    page = await request.app[CIFERS].list(caller(request), status=status, limit=limit, cursor=cursor)
    return response.ok(request, page)


@routes.get("/v1/cifers/{cifer_id}")
async def get(request: web.Request) -> web.Response:
    cifer_id = parse.cifer_id(request.match_info["cifer_id"])
    return response.ok(request, await request.app[CIFERS].get(caller(request), cifer_id))


@routes.patch("/v1/cifers/{cifer_id}")
async def update(request: web.Request) -> web.Response:
    cifer_id = parse.cifer_id(request.match_info["cifer_id"])
    body = parse.UpdateCifer.parse(await parse.json_object(request, required=True))
    return response.ok(request, await request.app[CIFERS].update(caller(request), cifer_id, body))


@routes.post("/v1/cifers/{cifer_id}/rotate")
async def rotate(request: web.Request) -> web.Response:
    cifer_id = parse.cifer_id(request.match_info["cifer_id"])
    body = parse.RotateCifer.parse(await parse.json_object(request))
    return response.ok(request, await request.app[CIFERS].rotate(caller(request), cifer_id, body))


@routes.delete("/v1/cifers/{cifer_id}")
async def revoke(request: web.Request) -> web.Response:
    cifer_id = parse.cifer_id(request.match_info["cifer_id"])
    confirmed = request.headers.get("X-Confirm-Revocation", "").lower() == "true"
    return response.ok(request, await request.app[CIFERS].revoke(caller(request), cifer_id, confirmed=confirmed))
