"""What the binary routes share: request bodies read in bounded pieces, and the one honest way
to fail a response whose head is already sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from prometheus_client import Counter

from cifer.api.errors import ApiError, ErrorCode

OCTET_STREAM = "application/octet-stream"  # a binary body, either way
PIECE_BYTES = 64 * 1024
BROKEN_UPLOAD = (aiohttp.ClientPayloadError, aiohttp.http_exceptions.HttpProcessingError, ConnectionError)


async def pieces(request: web.Request, counted: Counter | None = None) -> AsyncIterator[bytes]:
    """The request body in pieces of at most 64 KiB, counted into `counted` as they arrive."""
    async for piece in request.content.iter_chunked(PIECE_BYTES):
        if counted is not None:
            counted.inc(len(piece))
        yield piece


def abort(request: web.Request) -> None:
    """Cuts the connection before the final chunk: the client sees a broken body, never a short
    one that looks complete (a chunked response without its terminating chunk is an error)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def broken_upload() -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, "the request body ended early or was malformed",
                    details={"field": "body"})
