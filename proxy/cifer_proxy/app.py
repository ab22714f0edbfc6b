"""The sidecar's application factory; `cifer proxy`, `cifer dev` and the tests all call it."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from cifer.api import health
from cifer.api.middleware import new_app

MAX_JSON_BODY_BYTES = 8 * 1024 * 1024  # a JSON request is read whole; binary bodies stream


def create_app(*, health_checks: Mapping[str, health.HealthCheck]) -> web.Application:
    app = new_app(max_body_bytes=MAX_JSON_BODY_BYTES)
    app[health.HEALTH_CHECKS] = dict(health_checks)
    app.add_routes(health.routes)
    return app
