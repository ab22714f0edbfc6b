"""A webhook endpoint on loopback for the tests, and the seed's own signature check (§7.3)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket

from aiohttp import web


# Seed §7.3, verbatim: what a receiver runs.
def verify_webhook(payload: bytes, signature: str, secret: str) -> bool:
    """Verify webhook signature."""
    expected = hmac.new(
        secret.encode(),
        payload,
        hashlib.sha256
    ).hexdigest()

    return hmac.compare_digest(f"sha256={expected}", signature)


class Receiver:
    """A webhook endpoint on loopback. Its port is bound from the start but listens only after
    `start()`, so until then a connection is refused (the receiver is down)."""

    def __init__(self, statuses=(), *, hang_first: bool = False) -> None:
        self.statuses = list(statuses)  # answered in turn, then 200
        self.hang_first = hang_first  # the first request gets no answer until `stop()`
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []  # path and query of each request, in step with `requests`
        self._release = asyncio.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hooks/cifer"
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path_qs)
        self.requests.append((dict(request.headers), await request.read()))
        if self.hang_first:
            self.hang_first = False
            await self._release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, headers={"Location": "/hooks/elsewhere"} if 300 <= status < 400 else None)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks/cifer", self._handle)
        app.router.add_post("/hooks/elsewhere", self._handle)  # where a redirect points
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
        self._sock.close()
