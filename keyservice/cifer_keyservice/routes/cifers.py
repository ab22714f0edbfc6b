"""/v1/cifers: seed §4.1, §4.2, §4.5, §4.6, the list, and CIFER's update (PATCH)."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from cifer.api.endpoints import CREATE_CIFER, GET_CIFER, LIST_CIFERS, REVOKE_CIFER, ROTATE_CIFER, UPDATE_CIFER, route
from cifer.api import response
from cifer.api.parsing import cifer_id as parse_cifer_id
from cifer.api.parsing import invalid, json_object, positive_int
from cifer.api.schemas import MAX_PAGE_LIMIT
from cifer.api.timestamps import iso
from cifer_keyservice import bodies
from cifer_keyservice.records import CiferRecord
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import CIFERS, SECURITY_CONFIG, SETTINGS
from cifer_keyservice.wire_errors import CONFIRM_REVOCATION

routes = web.RouteTableDef()
REVOCATION_WARNING = "This action is irreversible. All encrypted data will become permanently inaccessible."


def der_base64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def summary(cifer: CiferRecord) -> dict[str, Any]:
    """The seed's §4.2 body (plus description, metadata and policy, which §4.1 returns)."""
    return {
        "cifer_id": cifer.cifer_id, "name": cifer.name, "description": cifer.description, "status": cifer.status,
        "created_at": iso(cifer.created_at), "updated_at": iso(cifer.updated_at), "owner_id": cifer.owner_id,
        "key_version": cifer.key_version, "key_algorithm": cifer.key_algorithm, "aead": cifer.aead,
        "expires_at": iso(cifer.expires_at), "metadata": cifer.metadata, "policy": cifer.policy.to_json(),
        "statistics": {
            "total_encryptions": cifer.statistics.total_encryptions,
            "total_decryptions": cifer.statistics.total_decryptions,
            "failed_decryptions": cifer.statistics.failed_decryptions,
            "last_used_at": iso(cifer.statistics.last_used_at),
        },
    }


def detail(cifer: CiferRecord) -> dict[str, Any]:
    """What GET and PATCH answer: §4.2 with CIFER's additions (the public key while active)."""
    body = summary(cifer) | {"next_rotation_at": iso(cifer.next_rotation_at)}
    if cifer.encapsulation_key is not None:
        body |= {"encapsulation_key": der_base64(cifer.encapsulation_key), "key_created_at": iso(cifer.key_created_at)}
    return body


def created(cifer: CiferRecord) -> dict[str, Any]:
    """Seed §4.1's answer."""
    return {
        "cifer_id": cifer.cifer_id, "name": cifer.name, "description": cifer.description, "status": cifer.status,
        "created_at": iso(cifer.created_at), "owner_id": cifer.owner_id,
        "encapsulation_key": der_base64(cifer.encapsulation_key), "key_version": cifer.key_version,
        "key_algorithm": cifer.key_algorithm, "aead": cifer.aead, "expires_at": iso(cifer.expires_at),
        "metadata": cifer.metadata, "policy": cifer.policy.to_json(),
    }


@route(routes, CREATE_CIFER)
async def create(request: web.Request) -> web.Response:
    settings, config = request.app[SETTINGS], request.app[SECURITY_CONFIG].cached
    body = bodies.create_cifer(await json_object(request, required=True),  # seed §4.1: the body is required
                               default_algorithm=settings.default_suite,
                               default_aead=config.settings["defaultAlgorithm"], auto_rotate_days=config.auto_rotate_days)
    return response.ok(request, created(await request.app[CIFERS].create(caller(request), body)), status=201)


@route(routes, LIST_CIFERS)
async def list_cifers(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status")
    if status not in (None, "active", "revoked"):
        raise invalid("status", "must be active or revoked")
    limit = positive_int(query, "limit", default=20, high=MAX_PAGE_LIMIT)
    cursor = query.get("cursor")
    if cursor is not None:
        cursor = parse_cifer_id(cursor)
    page = await request.app[CIFERS].list(caller(request), status=status, limit=limit, cursor=cursor)
    return response.ok(request, {"cifers": [summary(cifer) for cifer in page.items], "has_more": page.has_more,
                                 "next_cursor": page.next_cursor})


@route(routes, GET_CIFER)
async def get(request: web.Request) -> web.Response:
    cifer_id = parse_cifer_id(request.match_info["cifer_id"])
    return response.ok(request, detail(await request.app[CIFERS].get(caller(request), cifer_id)))


@route(routes, UPDATE_CIFER)
async def update(request: web.Request) -> web.Response:
    cifer_id = parse_cifer_id(request.match_info["cifer_id"])
    body = bodies.update_cifer(await json_object(request, required=True))
    return response.ok(request, detail(await request.app[CIFERS].update(caller(request), cifer_id, body)))


@route(routes, ROTATE_CIFER)
async def rotate(request: web.Request) -> web.Response:
    cifer_id = parse_cifer_id(request.match_info["cifer_id"])
    body = bodies.rotate_cifer(await json_object(request))
    rotation = await request.app[CIFERS].rotate(caller(request), cifer_id, body)
    return response.ok(request, {
        "cifer_id": rotation.cifer_id, "old_key_version": rotation.old_key_version,
        "new_key_version": rotation.new_key_version,
        "new_encapsulation_key": der_base64(rotation.new_encapsulation_key),
        "rotation_initiated_at": iso(rotation.initiated_at), "re_encryption_deadline": iso(rotation.re_encryption_deadline),
    })


@route(routes, REVOKE_CIFER)
async def revoke(request: web.Request) -> web.Response:
    cifer_id = parse_cifer_id(request.match_info["cifer_id"])
    confirmed = request.headers.get(CONFIRM_REVOCATION, "").lower() == "true"
    revoked_at = await request.app[CIFERS].revoke(caller(request), cifer_id, confirmed=confirmed)
    return response.ok(request, {"cifer_id": cifer_id, "status": "revoked", "revoked_at": iso(revoked_at),
                                 "warning": REVOCATION_WARNING})
