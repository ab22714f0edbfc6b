"""The inference service's application factory; `cifer inference` and the tests call it.

Middlewares, outermost first: the error renderer (seed 004's `{"detail": ...}` for everything).
Rate limits are applied by the handlers, since the inference limit is per session, which only
the body names."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from cifer.fhe.models import load_models
from cifer_inference.engine import Engine
from cifer_inference.errors import errors
from cifer_inference.ratelimit import Limiter
from cifer_inference.routes import health, infer, keys, models
from cifer_inference.sessions import SessionStore
from cifer_inference.settings import RATE_CATEGORIES, InferenceSettings
from cifer_inference.state import ENGINE, LIMITERS, SESSIONS, SETTINGS, WORKERS, Workers

_WHAT = {"models": "model listings per client", "register": "key registrations per client",
         "infer": "inferences per session"}


def create_app(settings: InferenceSettings) -> web.Application:
    from cifer.fhe.seal import sealapi
    sealapi()  # fail at start, not at the first request, when TenSEAL is missing
    app = web.Application(middlewares=[errors],
                          client_max_size=max(settings.max_register_body_bytes, settings.max_infer_body_bytes))
    app[SETTINGS] = settings
    app[SESSIONS] = SessionStore(ttl_s=settings.session_ttl_s, max_sessions=settings.max_sessions,
                                 max_bytes=settings.max_sessions_bytes)
    app[ENGINE] = Engine(settings, load_models(settings.models_dir), app[SESSIONS])
    limits = settings.rate_limits
    app[LIMITERS] = {} if limits is None else {
        name: Limiter(getattr(limits, name), _WHAT[name]) for name in RATE_CATEGORIES}

    async def workers(app: web.Application):
        app[WORKERS] = Workers(settings)
        yield
        await asyncio.to_thread(app[WORKERS].shutdown)

    async def expiry(app: web.Application):
        """Free the keys of idle sessions even when nobody asks for them."""
        async def sweep() -> None:
            while True:
                await asyncio.sleep(min(settings.session_ttl_s / 2, 30.0))
                app[SESSIONS].sweep()
        task = asyncio.create_task(sweep())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(workers)
    app.cleanup_ctx.append(expiry)
    for area in (health, models, keys, infer):
        app.add_routes(area.routes)
    return app
