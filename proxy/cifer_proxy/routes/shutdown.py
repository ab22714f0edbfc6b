"""POST /v1/shutdown: a Job's application, done, stops its sidecar, so that the pod can complete
(docs/injection.md). Kubernetes before native sidecars (1.28) waits for every container of a pod,
and a sidecar never ends by itself.

Only the pod's own containers may ask, and nothing a browser can send passes: the peer is on
loopback, the request names a loopback host (no DNS rebinding), carries no `Origin` (allowed
origins or not) and no credential of its own (it acts as the pod, whose identity this sidecar
lends only while it listens on loopback). The answer is sent whole first; then the process stops
as it does on SIGTERM, and exits 0."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from aiohttp import web

from cifer.api import response
from cifer.api.credentials import authorization
from cifer.api.endpoints import SHUTDOWN, route
from cifer.api.errors import ApiError, ErrorCode
from cifer_proxy.identity import is_loopback, names_loopback
from cifer_proxy.state import IDENTITY

routes = web.RouteTableDef()
STOP = web.AppKey("stop", Callable[[], None])  # how the process stops itself; tests in one process replace it


def stop_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # the server's own handler: listeners closed, calls under way finished


@route(routes, SHUTDOWN)
async def shutdown(request: web.Request) -> web.StreamResponse:
    pod_only = (request.app[IDENTITY].lends and is_loopback(request.remote or "") and names_loopback(request)
                and "Origin" not in request.headers and authorization(request) is None)
    if not pod_only:
        raise ApiError(ErrorCode.FORBIDDEN, "only the pod's own containers may stop the sidecar: on loopback, "
                                            "with no credential of their own and no Origin")
    answer = response.ok(request, {"stopping": True}, status=202)
    await answer.prepare(request)
    await answer.write_eof()
    request.app.get(STOP, stop_process)()
    return answer
