"""/v1/webhooks: seed §7.4 (register), plus list, read, update, delete and the deliveries' state."""

from __future__ import annotations

from aiohttp import web

from cifer.api import response
from cifer_keyservice import requests as parse
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import WEBHOOKS
from cifer_keyservice.webhooks.service import MAX_PAGE, CreateWebhook, UpdateWebhook

routes = web.RouteTableDef()


def _limit(request: web.Request) -> int:
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise parse.invalid("limit", f"must be an integer from 1 to {MAX_PAGE}")
    return limit


@routes.post("/v1/webhooks")
async def create(request: web.Request) -> web.Response:
    body = CreateWebhook.parse(await parse.json_object(request))
    return response.ok(request, await request.app[WEBHOOKS].create(caller(request), body), status=201)


@routes.get("/v1/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    cursor = request.query.get("cursor")
    if cursor is not None:
        cursor = parse.webhook_id(cursor)
    page = await request.app[WEBHOOKS].list(caller(request), limit=_limit(request), cursor=cursor)
    return response.ok(request, page)


@routes.get("/v1/webhooks/{webhook_id}")
async def get(request: web.Request) -> web.Response:
    hook_id = parse.webhook_id(request.match_info["webhook_id"])
    return response.ok(request, await request.app[WEBHOOKS].get(caller(request), hook_id))


@routes.patch("/v1/webhooks/{webhook_id}")
async def update(request: web.Request) -> web.Response:
    hook_id = parse.webhook_id(request.match_info["webhook_id"])
    body = UpdateWebhook.parse(await parse.json_object(request, required=True))
    return response.ok(request, await request.app[WEBHOOKS].update(caller(request), hook_id, body))


@routes.delete("/v1/webhooks/{webhook_id}")
async def delete(request: web.Request) -> web.Response:
    hook_id = parse.webhook_id(request.match_info["webhook_id"])
    return response.ok(request, await request.app[WEBHOOKS].delete(caller(request), hook_id))


@routes.get("/v1/webhooks/{webhook_id}/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    hook_id = parse.webhook_id(request.match_info["webhook_id"])
    limit = _limit(request)
    return response.ok(request, await request.app[WEBHOOKS].deliveries(caller(request), hook_id, limit=limit))
