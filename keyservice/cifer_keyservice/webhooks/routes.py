"""/v1/webhooks: seed §7.4 (register), plus list, read, update, delete and the deliveries' state."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cifer.api.endpoints import CREATE_WEBHOOK, DELETE_WEBHOOK, GET_WEBHOOK, LIST_DELIVERIES, LIST_WEBHOOKS, UPDATE_WEBHOOK, route
from cifer.api import response
from cifer.api.parsing import json_object, positive_int
from cifer.api.schemas import MAX_PAGE_LIMIT
from cifer.api.timestamps import iso
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import WEBHOOKS
from cifer_keyservice.webhooks import bodies
from cifer_keyservice.webhooks.service import DeliveryRecord, WebhookRecord

routes = web.RouteTableDef()


def _limit(request: web.Request) -> int:
    return positive_int(request.query, "limit", default=20, high=MAX_PAGE_LIMIT)


def view(hook: WebhookRecord) -> dict[str, Any]:
    return {"id": hook.id, "url": hook.url, "events": list(hook.events),
            "cifer_ids": None if hook.cifer_ids is None else list(hook.cifer_ids), "created_at": iso(hook.created_at)}


def _delivery(delivery: DeliveryRecord) -> dict[str, Any]:
    return {"event_id": delivery.event_id, "type": delivery.type, "created": iso(delivery.created),
            "status": delivery.status, "attempts": delivery.attempts, "next_attempt_at": iso(delivery.next_attempt_at),
            "last_error": delivery.last_error, "delivered_at": iso(delivery.delivered_at)}


@route(routes, CREATE_WEBHOOK)
async def create(request: web.Request) -> web.Response:
    body = bodies.create_webhook(await json_object(request))
    return response.ok(request, view(await request.app[WEBHOOKS].create(caller(request), body)), status=201)


@route(routes, LIST_WEBHOOKS)
async def list_webhooks(request: web.Request) -> web.Response:
    cursor = request.query.get("cursor")
    if cursor is not None:
        cursor = bodies.webhook_id(cursor)
    page = await request.app[WEBHOOKS].list(caller(request), limit=_limit(request), cursor=cursor)
    return response.ok(request, {"webhooks": [view(hook) for hook in page.items], "has_more": page.has_more,
                                 "next_cursor": page.next_cursor})


@route(routes, GET_WEBHOOK)
async def get(request: web.Request) -> web.Response:
    hook_id = bodies.webhook_id(request.match_info["webhook_id"])
    return response.ok(request, view(await request.app[WEBHOOKS].get(caller(request), hook_id)))


@route(routes, UPDATE_WEBHOOK)
async def update(request: web.Request) -> web.Response:
    hook_id = bodies.webhook_id(request.match_info["webhook_id"])
    body = bodies.update_webhook(await json_object(request, required=True))
    return response.ok(request, view(await request.app[WEBHOOKS].update(caller(request), hook_id, body)))


@route(routes, DELETE_WEBHOOK)
async def delete(request: web.Request) -> web.Response:
    hook_id = bodies.webhook_id(request.match_info["webhook_id"])
    deleted_at = await request.app[WEBHOOKS].delete(caller(request), hook_id)
    return response.ok(request, {"id": hook_id, "deleted": True, "deleted_at": iso(deleted_at)})


@route(routes, LIST_DELIVERIES)
async def deliveries(request: web.Request) -> web.Response:
    hook_id = bodies.webhook_id(request.match_info["webhook_id"])
    limit = _limit(request)
    found = await request.app[WEBHOOKS].deliveries(caller(request), hook_id, limit=limit)
    return response.ok(request, {"deliveries": [_delivery(delivery) for delivery in found]})
