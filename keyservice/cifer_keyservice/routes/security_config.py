"""Seed 001's encryption configuration (docs/security-api.md, "Configuration"): read it, and change
it setting by setting. A body of the wrong shape is 400 naming the field; a well-formed one is
judged setting by setting, and either applied whole (`status: applied`) or, if any setting is
refused, not at all (`status: failed`, 200, each refusal's reason in `validationResults`), as the
seed's response describes. Both are audited (`config.update`, success or failure)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from cifer.api import response
from cifer.api.endpoints import SECURITY_GET_CONFIG, SECURITY_PUT_CONFIG, route
from cifer.api.parsing import json_object
from cifer.api.timestamps import iso
from cifer_keyservice.clock import utcnow
from cifer_keyservice.routes.common import caller
from cifer_keyservice.security_config import NEVER_SET, NO_IMPACT, changed_settings, judge, parsed
from cifer_keyservice.state import AUDIT_RETENTION, CIFERS, SECURITY_CONFIG

routes = web.RouteTableDef()
_PRUNES: set[asyncio.Task] = set()  # prunes started by a change, kept until done (the loop holds tasks weakly)


def _kek(request: web.Request) -> tuple[str, str]:
    kek_id = request.app[CIFERS].kek_id
    return kek_id.partition(":")[0], kek_id


@route(routes, SECURITY_GET_CONFIG)
async def get_config(request: web.Request) -> web.Response:
    config = await request.app[SECURITY_CONFIG].current()
    provider, kek_id = _kek(request)
    return response.ok(request, {
        "configId": config.config_id or NEVER_SET, "updatedAt": iso(config.updated_at), "updatedBy": config.updated_by,
        **config.settings, "keyManagement": {"provider": provider, "keyArn": kek_id}})


def _prune_soon(request: web.Request) -> None:
    """A shorter retention prunes at once, in the background: the answer does not wait for it."""
    task = asyncio.get_running_loop().create_task(request.app[AUDIT_RETENTION].prune())
    _PRUNES.add(task)
    task.add_done_callback(_PRUNES.discard)


@route(routes, SECURITY_PUT_CONFIG)
async def put_config(request: web.Request) -> web.Response:
    change = parsed(await json_object(request, required=True))
    store, now = request.app[SECURITY_CONFIG], utcnow()
    current = await store.current()
    new, checks = judge(change, current, kek_provider=_kek(request)[0], max_batch=store.max_batch)
    results = [check.view() for check in checks]
    refused = [check.setting for check in checks if not check.valid]
    if refused:  # nothing changes, so nothing is affected
        await store.refused(caller(request), refused)
        return response.ok(request, {
            "configId": current.config_id or NEVER_SET, "updatedAt": iso(current.updated_at or now),
            "status": "failed", "validationResults": results, "impactAssessment": NO_IMPACT})
    impact = await store.impact(current, new, now)
    changed = changed_settings(current.settings, new)
    config = await store.update(caller(request), new, changed) if changed else current
    if "complianceSettings.retainAuditLogs" in changed:
        _prune_soon(request)
    return response.ok(request, {
        "configId": config.config_id or NEVER_SET, "updatedAt": iso(config.updated_at or now),
        "appliedAt": iso(config.updated_at or now), "status": "applied", "validationResults": results,
        "impactAssessment": impact})
