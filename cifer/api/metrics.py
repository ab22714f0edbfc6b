"""Prometheus metrics every CIFER service exports at /metrics (`cifer_` prefix).

Each application has its own registry, so several services (or tests) in one process never
share counters. Requests are labelled by route template, never by raw path, so ids cannot
blow up the label space.
"""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
_HTTP = web.AppKey("http_metrics", tuple)


def install(app: web.Application) -> CollectorRegistry:
    """Gives `app` a registry with the HTTP metrics and the /metrics route; returns the registry."""
    registry = CollectorRegistry()
    app[REGISTRY] = registry
    app[_HTTP] = (
        Counter("cifer_http_requests", "HTTP requests by route, method and status code",
                ["route", "method", "code"], registry=registry),
        Histogram("cifer_http_request_duration_seconds", "HTTP request latency by route",
                  ["route"], registry=registry),
        {},  # (route, method, status) -> its two children, bounded by the routes and statuses there are
    )
    app.router.add_get("/metrics", _scrape)
    return registry


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def measure(request: web.Request, handler):
    """Counts every response by its final status, errors included (it sits outside the error renderer)."""
    requests, latency, children = request.app[_HTTP]
    started = time.perf_counter()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    finally:
        key = (_route(request), request.method, code)
        counted = children.get(key)
        if counted is None:  # a label lookup per request costs more than the count itself
            counted = children[key] = (requests.labels(key[0], key[1], str(code)), latency.labels(key[0]))
        counted[0].inc()
        counted[1].observe(time.perf_counter() - started)


async def _scrape(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app[REGISTRY]), headers={"Content-Type": CONTENT_TYPE_LATEST})
