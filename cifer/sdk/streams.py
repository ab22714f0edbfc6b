"""The answers of the binary API, read as they arrive: `async with` opens the call, `async for`
yields its body in pieces, leaving closes it.

The server reports a failure found mid-stream (a ciphertext chunk whose tag fails) by aborting
the connection before the terminating chunk. So an answer that ends any other way than
properly raises `StreamError`: iteration never ends quietly on a cut-off stream, and whatever
was yielded before must be thrown away.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import aiohttp
from multidict import CIMultiDictProxy

from cifer.sdk.errors import StreamError
from cifer.sdk.models import invalid_response
from cifer.sdk.transport import TRANSPORT_FAILURES
from cifer.sdk.upload import Upload

DOWNLOAD_CHUNK_BYTES = 64 * 1024


def _end_is_checkable(response: aiohttp.ClientResponse) -> bool:
    """Chunked or sized: only then does a cut-off answer look different from a finished one."""
    chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
    return chunked or "Content-Length" in response.headers


class ResponseStream:
    """A streamed answer. `headers` are the response's; iterate for the body."""

    def __init__(self, open_response: Callable[[], Awaitable[aiohttp.ClientResponse]], upload: Upload, *,
                 chunk_bytes: int = DOWNLOAD_CHUNK_BYTES) -> None:
        self._open_response = open_response
        self._upload = upload
        self._chunk_bytes = chunk_bytes
        self._response: aiohttp.ClientResponse | None = None
        self._finished = False

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._response is None:
            raise RuntimeError("the stream is not open: use it in `async with`/`with`")
        return self._response.headers

    async def __aenter__(self) -> Self:
        self._response = await self._open_response()
        try:
            if not _end_is_checkable(self._response):
                raise StreamError("the server's answer is neither chunked nor sized, so a cut-off could not be told")
            self._read_headers(self._response)
        except BaseException:
            self._response.close()
            raise
        return self

    def _read_headers(self, response: aiohttp.ClientResponse) -> None:
        """Subclasses parse their response headers here, once."""

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the connection; one not read to its end is closed, stopping the upload too."""
        if self._response is not None:
            if self._finished:
                self._response.release()
            else:
                self._response.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._response is None:
            raise RuntimeError("the stream is not open: use it in `async with`/`with`")
        try:
            async for chunk in self._response.content.iter_chunked(self._chunk_bytes):
                yield chunk
        except TRANSPORT_FAILURES as exc:
            if self._upload.error is not None:  # our source failed first; the server merely gave up
                raise self._upload.error from exc
            raise StreamError(
                "the stream was cut off before its end (a chunk failed authentication, or the "
                "connection broke); discard the output"
            ) from exc
        self._finished = True


class _SealedStream(ResponseStream):
    """The X-Cifer-Id and X-Cifer-Key-Version response headers: which key sealed (or opened) it."""

    cifer_id: str | None = None
    key_version: int | None = None

    def _read_headers(self, response: aiohttp.ClientResponse) -> None:
        self.cifer_id = response.headers.get("X-Cifer-Id")
        version = response.headers.get("X-Cifer-Key-Version")
        if version is not None:
            if not version.isascii() or not version.isdigit():
                raise invalid_response("X-Cifer-Key-Version is not a number")
            self.key_version = int(version)


class EncryptStream(_SealedStream):
    """`POST /v1/encrypt` with a binary body: yields the envelope's bytes. `cifer_id`,
    `key_version` and `algorithm` (the suite) come from the response headers."""

    algorithm: str | None = None

    def _read_headers(self, response: aiohttp.ClientResponse) -> None:
        super()._read_headers(response)
        self.algorithm = response.headers.get("X-Cifer-Algorithm")


class DecryptStream(_SealedStream):
    """`POST /v1/decrypt` with a binary body: yields the plaintext. `cifer_id`, `key_version`
    and `metadata` come from the X-Cifer-* response headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metadata: dict[str, Any] = {}

    def _read_headers(self, response: aiohttp.ClientResponse) -> None:
        super()._read_headers(response)
        raw = response.headers.get("X-Cifer-Metadata")
        if raw is None:
            return
        try:
            metadata = json.loads(raw)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise invalid_response("X-Cifer-Metadata is not a JSON object")
        self.metadata = metadata
