"""The injection webhook's HTTPS server: AdmissionReview in, a JSON patch (or a refusal) out.

Its own small aiohttp server rather than kopf's `@kopf.on.mutate`: the injection webhook needs
two webhooks with namespace selectors (by label, and leaving CIFER's own namespace out) and the
failure policy `Ignore`, which kopf's managed configuration does not express; and every replica
must answer, the paused ones too. It runs inside `cifer operator` (`--inject-port`), and serves its metrics at `GET /metrics` on the
same port: `cifer_injections_total{mode, outcome}`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest

from cifer.api.middleware import answer_and_close, body_too_large
from cifer.api.server import AppRunner
from cifer_operator import sidecar_modes as modes
from cifer_operator.injection import (
    BY_NAMESPACE,
    BY_POD,
    REQUIRED,
    InjectorSettings,
    KeyNames,
    Refusal,
    injected_mode,
    patch,
)

log = logging.getLogger("cifer.operator.injection")
MAX_REVIEW_BYTES = 4 * 1024 * 1024  # a pod with large inline specs; the API server's own limit is 3 MiB


def answer(review: dict[str, Any], allowed: bool, *, ops: list | None = None, message: str | None = None) -> web.Response:
    response: dict[str, Any] = {"uid": review["request"]["uid"], "allowed": allowed}
    if ops:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
    if message:
        response["status"] = {"code": 400, "message": message}
    return web.json_response({"apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                              "kind": "AdmissionReview", "response": response})


async def review(request: web.Request, mode: str) -> web.Response:
    try:
        body = await request.json()
        pod, uid = body["request"]["object"], body["request"]["uid"]
        namespace = body["request"].get("namespace") or (pod.get("metadata") or {}).get("namespace") or ""
        if not isinstance(uid, str) or not isinstance(pod, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="not an AdmissionReview of a pod") from None
    injections = request.app[INJECTIONS]
    try:
        ops = await patch(pod, namespace, mode, request.app[SETTINGS], request.app[KEY_NAMES],
                          request.app[SERVER].version)
    except Refusal as refusal:
        log.info("refused to inject into a pod in %s: %s", namespace, refusal)
        injections.labels("none", "refused").inc()
        return answer(body, False, message=str(refusal))
    injected = injected_mode(ops)
    if injected:
        log.info("injected the sidecar (%s) into a pod in %s", injected, namespace)
    injections.labels(injected or "none", "injected" if injected else "skipped").inc()
    return answer(body, True, ops=ops)


SETTINGS = web.AppKey("settings", InjectorSettings)
KEY_NAMES = web.AppKey("key_names", KeyNames)


class ServerVersion:
    """The API server's (major, minor), read at start and every REFRESH_S (an upgrade of the control
    plane changes the mode of pods made after it); None until read, or when it cannot be."""

    REFRESH_S = 300.0

    def __init__(self, read: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> None:
        self._read = read
        self.version: tuple[int, int] | None = None

    async def refresh(self) -> None:
        if self._read is None:
            return
        try:
            self.version = modes.version_of(await self._read())
        except Exception as exc:  # noqa: BLE001 - the last version read stays; classic works everywhere
            log.warning("the API server's version could not be read: %s", type(exc).__name__)

    async def follow(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.REFRESH_S)


SERVER = web.AppKey("server", ServerVersion)
INJECTIONS = web.AppKey("injections", Counter)
REGISTRY = web.AppKey("registry", CollectorRegistry)


@web.middleware
async def bounded(request: web.Request, handler):
    """A review announced larger than MAX_REVIEW_BYTES: 413 at once, from its Content-Length,
    before any of it is read, and the connection closed (as every CIFER server does)."""
    if body_too_large(request, MAX_REVIEW_BYTES):
        too_large = web.json_response({"message": f"an AdmissionReview is at most {MAX_REVIEW_BYTES} bytes"},
                                      status=413)
        return await answer_and_close(request, too_large)
    return await handler(request)


def malformed(request: web.BaseRequest, status: int, message: str) -> web.StreamResponse:
    """The answer to a request aiohttp could not parse: JSON, echoing none of its bytes."""
    return web.json_response({"message": message or "internal error"}, status=status)


def create_app(settings: InjectorSettings, key_names: KeyNames, server: ServerVersion | None = None
               ) -> web.Application:
    app = web.Application(client_max_size=MAX_REVIEW_BYTES, middlewares=[bounded])
    app[SETTINGS], app[KEY_NAMES], app[SERVER] = settings, key_names, server or ServerVersion()
    app[REGISTRY] = CollectorRegistry()
    app[INJECTIONS] = Counter("cifer_injections", "Pods reviewed by the injector, by the sidecar's mode (none when "
                              "not injected) and outcome (injected, skipped, refused)", ["mode", "outcome"],
                              registry=app[REGISTRY])

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(request.app[REGISTRY]), content_type="text/plain", charset="utf-8")
    app.router.add_get("/metrics", metrics)

    async def following(app: web.Application):
        task = asyncio.create_task(app[SERVER].follow())
        yield
        task.cancel()
    app.cleanup_ctx.append(following)

    async def by_namespace(request: web.Request) -> web.Response:
        return await review(request, BY_NAMESPACE)

    async def by_pod(request: web.Request) -> web.Response:
        return await review(request, BY_POD)

    async def required(request: web.Request) -> web.Response:
        return await review(request, REQUIRED)

    app.router.add_post("/inject/namespace", by_namespace)
    app.router.add_post("/inject/pod", by_pod)
    app.router.add_post("/inject/required", required)
    return app


def new_runner(settings: InjectorSettings, key_names: KeyNames, server: ServerVersion | None = None) -> AppRunner:
    """The app with CIFER's header limits and malformed-request answers (cifer.api.server), as
    every CIFER server has them."""
    return AppRunner(create_app(settings, key_names, server), render=malformed, access_log=None)


async def start(settings: InjectorSettings, key_names: KeyNames, *, addr: str, port: int, certfile: str,
                keyfile: str, server: ServerVersion | None = None) -> web.AppRunner:
    """Serve over HTTPS (the API server calls webhooks over TLS only); the runner, to clean up."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certfile, keyfile)
    runner = new_runner(settings, key_names, server)
    await runner.setup()
    await web.TCPSite(runner, addr, port, ssl_context=tls).start()
    return runner
