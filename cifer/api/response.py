"""The response body of seed 000 §2.3: `success`, `data` or `error`, and `meta`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cifer.api.errors import ApiError
from cifer.api.timestamps import unix_iso

API_VERSION = "1.0"
REQUEST_ID = web.RequestKey("request_id", str)


def _meta(request: web.Request, *, with_version: bool) -> dict[str, str]:
    meta = {"request_id": request.get(REQUEST_ID, ""), "timestamp": unix_iso(int(time.time()))}
    if with_version:
        meta["version"] = API_VERSION
    return meta


def ok(request: web.Request, data: Mapping[str, Any] | list[Any], *, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "data": data, "meta": _meta(request, with_version=True)}, status=status)


def error_object(err: ApiError) -> dict[str, Any]:
    """The seed's `error` object (§9.2), also for each failed item of a batch."""
    return {"code": err.code.name, "message": err.message, "details": err.details,
            "documentation_url": err.code.documentation_url}


def error(request: web.Request, err: ApiError, *, headers: Mapping[str, str] | None = None) -> web.Response:
    body = {
        "success": False,
        "error": error_object(err),
        "meta": _meta(request, with_version=False),
    }
    return web.json_response(body, status=err.code.status, headers=headers)
