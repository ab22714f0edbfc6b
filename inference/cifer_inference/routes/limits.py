"""The rate limits of seed 004 as handlers apply them."""

from __future__ import annotations

from collections.abc import Hashable

from aiohttp import web

from cifer_inference.state import LIMITERS


def limit(request: web.Request, category: str, key: Hashable) -> None:
    """Count one request of `category` for `key`, or raise 429 (no-op when limits are off)."""
    limiter = request.app[LIMITERS].get(category)
    if limiter is not None:
        limiter.hit(key)
