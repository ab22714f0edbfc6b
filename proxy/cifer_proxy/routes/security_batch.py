"""POST /api/security/encrypt/batch (seed 001): up to MAX_BATCH_OPERATIONS encryptions, each as
/api/security/encrypt takes it plus its `operationId`, each answered on its own: a bad operation
fails alone, with its code and reason. With a `callback`, the same answer is also POSTed there,
signed; a batch of more than QUEUED_OVER operations with a callback is answered `queued` (202) at
once and delivered by the callback alone (docs/security-api.md, "Batches")."""

from __future__ import annotations

import asyncio
import datetime
import json
import secrets
from typing import Any

from aiohttp import web

from cifer.api import response
from cifer.api import security_schemas as sec
from cifer.api.endpoints import SECURITY_ENCRYPT_BATCH, route
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.parsing import invalid
from cifer.api.timestamps import iso
from cifer.dataprotection.keytypes import DATA_TYPES
from cifer.webhooks import egress
from cifer_proxy import bodies
from cifer_proxy.routes import encrypt as v1_encrypt
from cifer_proxy.routes.security import chosen_key, encrypt_request, encrypted, usage_labels
from cifer_proxy.state import CALLBACKS, METRICS, USAGE

routes = web.RouteTableDef()
YIELD_EVERY = 50  # operations sealed between two turns of the event loop


def _callback(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"url", "authentication"}:
        raise invalid("callback", "must be {url, authentication}")
    url, secret = value["url"], value["authentication"]
    problem = egress.receiver_url_problem(url)
    if problem is not None:
        raise invalid("callback.url", problem)
    bounds = sec.BATCH["properties"]["callback"]["properties"]["authentication"]
    if not isinstance(secret, str) or not bounds["minLength"] <= len(secret) <= bounds["maxLength"]:
        raise invalid("callback.authentication",
                      f"must be a secret of {bounds['minLength']} to {bounds['maxLength']} characters")
    return {"url": url, "secret": secret}


def batch_id(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 128 or not all("!" <= c <= "~" for c in value):
        raise invalid("batchId", "must be 1 to 128 visible ASCII characters")
    return value


async def _run(app: web.Application, credential: str, operations: list[Any]) -> list[dict[str, Any]]:
    """Each operation's result in order; keys are looked up once per batch."""
    keys: dict[tuple, Any] = {}
    results = []
    for index, operation in enumerate(operations):
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
        operation_id = operation.get("operationId") if isinstance(operation, dict) else None
        try:
            if not isinstance(operation, dict):
                raise invalid(f"operations[{index}]", "must be an object")
            if not isinstance(operation_id, str) or not 0 < len(operation_id) <= 128:
                raise invalid(f"operations[{index}].operationId", "is required: 1 to 128 characters")
            asked = encrypt_request({k: v for k, v in operation.items() if k != "operationId"},
                                    prefix=f"operations[{index}].")
            which = (asked.key_id, asked.user_id, DATA_TYPES[asked.data_type])
            if which not in keys:
                try:
                    keys[which] = await chosen_key(app, credential, asked)
                except ApiError as err:
                    keys[which] = err
            if isinstance(keys[which], ApiError):
                raise keys[which]
            key, recipient = keys[which]
            answer, size = encrypted(key, recipient, asked)
            app[METRICS].bytes_encrypted.inc(size)
            app[USAGE].encrypted(credential, recipient.cifer_id, size, usage_labels(asked))
            results.append({"operationId": operation_id, "status": "completed", "result": answer})
        except ApiError as err:
            if err.code.status >= 500:
                raise  # the key service is away: the batch as a whole fails, as one call would
            results.append({"operationId": operation_id, "status": "failed",
                            "error": {"code": err.code.name, "message": err.message, "details": err.details}})
    return results


def _answer(batch: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    successful = sum(1 for result in results if result["status"] == "completed")
    return {"batchId": batch, "status": "completed" if successful else "failed", "operations": results,
            "summary": {"total": len(results), "successful": successful, "failed": len(results) - successful}}


@route(routes, SECURITY_ENCRYPT_BATCH)
async def encrypt_batch(request: web.Request) -> web.Response:
    credential, limited = await v1_encrypt.authorize(request)
    body = await bodies.json_object(request, {"operations", "batchId", "priority", "callback"})
    operations = body.get("operations")
    if not isinstance(operations, list) or not 1 <= len(operations) <= sec.MAX_BATCH_OPERATIONS:
        raise invalid("operations", f"must be a list of 1 to {sec.MAX_BATCH_OPERATIONS} operations")
    if body.get("priority", "normal") not in sec.BATCH["properties"]["priority"]["enum"]:
        raise invalid("priority", "must be low, normal, high or urgent")
    batch = batch_id(body["batchId"]) if "batchId" in body else "batch_" + secrets.token_hex(12)
    callback = _callback(body["callback"]) if "callback" in body else None
    app = request.app
    if callback is not None and app[CALLBACKS].full:  # bounded memory: each holds a whole batch
        raise ApiError(ErrorCode.RATE_LIMIT_EXCEEDED, "too many batches with callbacks are under way; retry shortly",
                       headers={"Retry-After": "1"})

    async def deliver(answer: dict[str, Any]) -> None:
        body = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
        await app[CALLBACKS].deliver(callback["url"], body, secret=callback["secret"], batch_id=batch)

    if callback is not None and len(operations) > sec.QUEUED_OVER:
        async def queued() -> None:
            await deliver(_answer(batch, await _run(app, credential, operations)))

        app[CALLBACKS].later(queued)
        resp = response.ok(request, {
            "batchId": batch, "status": "queued",
            "operations": [{"operationId": op.get("operationId") if isinstance(op, dict) else None, "status": "pending"}
                           for op in operations],
            "summary": {"total": len(operations), "successful": 0, "failed": 0,
                        "estimatedCompletion": iso(datetime.datetime.now(datetime.UTC)
                                                   + datetime.timedelta(seconds=1 + len(operations) / 500))}},
            status=202)
    else:
        answer = _answer(batch, await _run(app, credential, operations))
        if callback is not None:
            app[CALLBACKS].later(lambda: deliver(answer))
        resp = response.ok(request, answer)
    resp.headers.update(limited)
    return resp
