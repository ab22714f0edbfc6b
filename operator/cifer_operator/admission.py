"""The injection webhook's HTTPS server: AdmissionReview in, a JSON patch (or a refusal) out.

Its own small aiohttp server rather than kopf's `@kopf.on.mutate`: the injection webhook needs
two webhooks with namespace selectors (by label, and leaving CIFER's own namespace out) and the
failure policy `Ignore`, which kopf's managed configuration does not express; and every replica
must answer, the paused ones too. It runs inside `cifer operator` (`--inject-port`).
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
from typing import Any

from aiohttp import web

from cifer.api.middleware import answer_and_close, body_too_large
from cifer.api.server import AppRunner
from cifer_operator.injection import (
    BY_NAMESPACE,
    BY_POD,
    InjectorSettings,
    KeyNames,
    Refusal,
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
    try:
        ops = await patch(pod, namespace, mode, request.app[SETTINGS], request.app[KEY_NAMES])
    except Refusal as refusal:
        log.info("refused to inject into a pod in %s: %s", namespace, refusal)
        return answer(body, False, message=str(refusal))
    if ops:
        log.info("injected the sidecar into a pod in %s", namespace)
    return answer(body, True, ops=ops)


SETTINGS = web.AppKey("settings", InjectorSettings)
KEY_NAMES = web.AppKey("key_names", KeyNames)


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


def create_app(settings: InjectorSettings, key_names: KeyNames) -> web.Application:
    app = web.Application(client_max_size=MAX_REVIEW_BYTES, middlewares=[bounded])
    app[SETTINGS], app[KEY_NAMES] = settings, key_names

    async def by_namespace(request: web.Request) -> web.Response:
        return await review(request, BY_NAMESPACE)

    async def by_pod(request: web.Request) -> web.Response:
        return await review(request, BY_POD)

    app.router.add_post("/inject/namespace", by_namespace)
    app.router.add_post("/inject/pod", by_pod)
    return app


def new_runner(settings: InjectorSettings, key_names: KeyNames) -> AppRunner:
    """The app with CIFER's header limits and malformed-request answers (cifer.api.server), as
    every CIFER server has them."""
    return AppRunner(create_app(settings, key_names), render=malformed, access_log=None)


async def start(settings: InjectorSettings, key_names: KeyNames, *, addr: str, port: int, certfile: str,
                keyfile: str) -> web.AppRunner:
    """Serve over HTTPS (the API server calls webhooks over TLS only); the runner, to clean up."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certfile, keyfile)
    runner = new_runner(settings, key_names)
    await runner.setup()
    await web.TCPSite(runner, addr, port, ssl_context=tls).start()
    return runner
