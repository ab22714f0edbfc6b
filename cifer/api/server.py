"""How every CIFER server listens: the sidecar, the key service and the inference service.

- aiohttp's parser limits (`max_line_size`, `max_field_size`) are CIFER's: an `Authorization`
  header holding the longest token any verifier reads (`MAX_TOKEN_CHARS`, 16 KiB) arrives; a
  longer line does not (aiohttp's default, 8190 bytes, refused tokens our verifiers accept).
- A request aiohttp cannot parse (a line over those limits, a malformed head) is answered in
  the server's own JSON error body, echoing none of its bytes, and logged in one line without
  them. aiohttp's own answer is plain text quoting about 100 bytes of the offending line (an
  Authorization value, for instance) and logs a traceback holding them; it has no public hook
  for that answer, so the request handler class is replaced here, and tests/core pin it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from cifer.api import response
from cifer.api.credentials import MAX_AUTHORIZATION_CHARS
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.middleware import new_request_id
from cifer.exceptions import CannotListen

log = logging.getLogger("cifer.api")

MAX_HEADER_LINE_BYTES = len("Authorization: ") + MAX_AUTHORIZATION_CHARS + 512
"""Longest request line or header line (name and value) a server reads."""
LIMITS = {"max_line_size": MAX_HEADER_LINE_BYTES, "max_field_size": MAX_HEADER_LINE_BYTES}

Render = Callable[[web.BaseRequest, int, str], web.StreamResponse]
"""(request, status, message) -> the server's error response for a request it could not handle."""


def seed_error(request: web.BaseRequest, status: int, message: str) -> web.StreamResponse:
    """Seed 000's error body (the key service and the sidecar), with a request id of its own."""
    code = {400: ErrorCode.INVALID_REQUEST, 503: ErrorCode.SERVICE_UNAVAILABLE}.get(status, ErrorCode.INTERNAL_ERROR)
    rid = new_request_id()
    request[response.REQUEST_ID] = rid
    return response.error(request, ApiError(code, message if status == 400 else None), headers={"X-Request-ID": rid})


MALFORMED = (f"Malformed request: a request line or header is malformed, or longer than "
             f"{MAX_HEADER_LINE_BYTES} bytes")


class _Handler(RequestHandler):
    """aiohttp's connection handler, but its error answer is the server's `Render`."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status < 500:  # aiohttp could not parse the request: the client's fault, named by type only
            log.info("refused a malformed request from %s: %s", request.remote, type(exc).__name__)
        else:
            log.error("request from %s failed outside the application: %s", request.remote, type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("the response is sent already, cannot send another one")
        resp = self._manager.render(request, status, MALFORMED if status < 500 else "")
        resp.force_close()
        return resp


class _Server(web.Server):
    def __init__(self, *args: Any, render: Render, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.render = render

    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """`web.AppRunner` with CIFER's header limits and malformed-request answers."""

    def __init__(self, app: web.Application, *, render: Render = seed_error, **kwargs: Any) -> None:
        super().__init__(app, **LIMITS, **kwargs)
        self._render = render

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _Server(plain.request_handler, request_factory=plain.request_factory,
                       handler_cancellation=plain.handler_cancellation, render=self._render, **plain._kwargs)


@dataclasses.dataclass(frozen=True)
class Listener:
    """One application on one address."""

    app: web.Application
    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    render: Render = seed_error
    access_log: bool = True


async def serve(listeners: Sequence[Listener], *, shutdown_timeout_s: float = 5.0) -> None:
    """Serves every listener until SIGTERM or SIGINT, then stops them in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runners: list[AppRunner] = []
    try:
        for listener in listeners:
            extra = {} if listener.access_log else {"access_log": None}
            runner = AppRunner(listener.app, render=listener.render, shutdown_timeout=shutdown_timeout_s,
                               handle_signals=False, **extra)
            runners.append(runner)
            await runner.setup()
            try:
                await web.TCPSite(runner, listener.host, listener.port, ssl_context=listener.ssl_context).start()
            except OSError as exc:
                raise CannotListen(f"cannot listen on {listener.host}:{listener.port}: {exc.strerror}") from None
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
