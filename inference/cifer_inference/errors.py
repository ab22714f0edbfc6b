"""Seed 004's error body, `{"detail": "..."}`, for every failure: the service's own, aiohttp's
(unknown path, wrong method, body too large), a request aiohttp could not parse (a header line
too long: `render_unparsed`, echoing none of it) and the unexpected (500, no exception text)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from cifer.api.middleware import answer_and_close

log = logging.getLogger("cifer.inference")


class Problem(Exception):
    """An answer with an error status, a human-readable detail, and headers (Retry-After)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, dict(headers or {})


def bad_request(detail: str) -> Problem:
    return Problem(400, detail)


def not_found(detail: str) -> Problem:
    return Problem(404, detail)


def invalid(detail: str) -> Problem:
    """422: the body is not the shape the seed gives (missing field, wrong type)."""
    return Problem(422, detail)


def unavailable(detail: str, retry_after_s: int) -> Problem:
    return Problem(503, detail, {"Retry-After": str(max(1, retry_after_s))})


def render(status: int, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": detail}, status=status, headers=headers)


def render_unparsed(request: web.BaseRequest, status: int, message: str) -> web.Response:
    """`cifer.api.server`'s answer to a request it could not parse or handle, in seed 004's body."""
    return render(status, message or "Internal server error")


@web.middleware
async def errors(request: web.Request, handler):
    try:
        return await handler(request)
    except Problem as problem:
        return render(problem.status, problem.detail, problem.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        if exc.status == 413:  # announced or read past the bound: the rest of the body is never read
            return await answer_and_close(request, render(exc.status, exc.reason, headers))
        return render(exc.status, exc.reason, headers)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return render(500, "Internal server error")
