"""Metrics and tracing hooks (seed §6.6), with the TypeScript SDK's semantics
(sdk/typescript/src/hooks.ts):

- `on_request(event)` is called after every HTTP attempt with a `RequestEvent`; a hook that
  raises is logged and ignored, never failing the call it observes.
- `tracer`, an OpenTelemetry `Tracer` (`opentelemetry-api` is optional and imported only when a
  tracer is given): one CLIENT span per call, named `CIFER <operationId>`, whose W3C
  `traceparent` is sent so the sidecar's trace continues the caller's.

Calls are named by their OpenAPI operationId and path template from the one endpoint table
(`cifer.api.endpoints`), never by a path holding ids, so both are fit for metric labels.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Callable
from typing import Any

log = logging.getLogger("cifer.sdk")


@dataclasses.dataclass(frozen=True)
class RequestEvent:
    """One HTTP attempt, as it ended (its retries are further events)."""

    operation: str
    """The endpoint's OpenAPI operationId (`encryptData`, `getCifer`, ...)."""
    method: str
    path: str
    """The path template (`/v1/cifers/{cifer_id}`), never an id."""
    attempt: int
    """0 for the first attempt, then 1, 2, ... for retries."""
    status: int | None
    """The HTTP status; None when there was no answer."""
    error_code: str | None
    """The error's code when the attempt failed (`RATE_LIMIT_EXCEEDED`, `CONNECTION_ERROR`, ...)."""
    duration_s: float
    request_id: str | None
    will_retry: bool
    """Whether this failure will be tried again."""


RequestHook = Callable[[RequestEvent], None]


@functools.cache
def _templates() -> tuple[tuple[str, re.Pattern[str], str, str], ...]:
    from cifer.api.endpoints import ENDPOINTS

    return tuple(
        (e.method, re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(e.path))), e.path, e.operation["operationId"])
        for e in ENDPOINTS
    )


def operation_of(method: str, path: str) -> tuple[str, str]:
    """The operationId and path template of a concrete call; the path itself if it is not in the table."""
    for known_method, pattern, template, operation in _templates():
        if known_method == method and pattern.fullmatch(path):
            return operation, template
    return f"{method} {path}", path


def report(hook: RequestHook | None, event: RequestEvent) -> None:
    if hook is None:
        return
    try:
        hook(event)
    except Exception:  # a broken metrics hook must not break the call it observes
        log.exception("the on_request hook raised; ignored")


class CallSpan:
    """One call's span (or nothing, without a tracer): started before the first attempt, ended once."""

    def __init__(self, tracer: Any, operation: str, method: str, template: str) -> None:
        self._span = None
        if tracer is None:
            return
        from opentelemetry import trace

        self._span = tracer.start_span(f"CIFER {operation}", kind=trace.SpanKind.CLIENT, attributes={
            "http.request.method": method, "url.template": template, "cifer.operation": operation})

    def traceparent(self) -> str | None:
        if self._span is None:
            return None
        context = self._span.get_span_context()
        if not context.is_valid:
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"

    def end(self, attempts: int, error: BaseException | None) -> None:
        if self._span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        self._span.set_attribute("cifer.attempts", attempts)
        if error is not None:
            self._span.record_exception(error)
            status = getattr(error, "status", None)
            if status is not None:
                self._span.set_attribute("http.response.status_code", status)
            self._span.set_status(Status(StatusCode.ERROR, getattr(error, "code", type(error).__name__)))
        self._span.end()
