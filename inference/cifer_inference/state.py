"""Typed application state, declared once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from cifer_inference.engine import Engine
from cifer_inference.errors import unavailable
from cifer_inference.ratelimit import Limiter
from cifer_inference.sessions import SessionStore
from cifer_inference.settings import InferenceSettings


class Workers:
    """Threads for CPU-bound work: evaluations (bounded, with a bounded queue) and registrations
    (one at a time: each holds a context of tens of megabytes while it loads)."""

    def __init__(self, settings: InferenceSettings) -> None:
        self.evaluations = ThreadPoolExecutor(settings.max_concurrent_evaluations, thread_name_prefix="fhe-eval")
        self.registrations = ThreadPoolExecutor(1, thread_name_prefix="fhe-register")
        self.max_pending = settings.max_concurrent_evaluations + settings.max_pending_evaluations
        self.pending = 0

    async def evaluate(self, fn, *args):
        if self.pending >= self.max_pending:
            raise unavailable("Too many inferences in progress; retry shortly", 1)
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.evaluations, fn, *args)
        finally:
            self.pending -= 1

    async def register(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.registrations, fn, *args)

    def shutdown(self) -> None:
        self.evaluations.shutdown(wait=True, cancel_futures=True)
        self.registrations.shutdown(wait=True, cancel_futures=True)


SETTINGS = web.AppKey("settings", InferenceSettings)
ENGINE = web.AppKey("engine", Engine)
SESSIONS = web.AppKey("sessions", SessionStore)
LIMITERS = web.AppKey("limiters", dict[str, Limiter])  # by rate category; empty when limits are off
WORKERS = web.AppKey("workers", Workers)

