"""Request bodies of the binary API, read piece by piece while they are sent.

A body is bytes, a binary file object (sync or with an async `read`), or an iterable or async
iterable of bytes. Files are read 64 KiB at a time, in the loop's executor so a slow disk or a
pipe never stalls the download running beside the upload; memory stays bounded whatever the
size. `Upload` remembers whether anything was taken from the source: once something was, the
body cannot be sent again, so the call is not retried.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import IO, Union

UPLOAD_CHUNK_BYTES = 64 * 1024
BytesLike = (bytes, bytearray, memoryview)
BodySource = Union[bytes, bytearray, memoryview, IO[bytes], Iterable[bytes], AsyncIterable[bytes]]
_END = object()


class Upload:
    def __init__(self, source: BodySource, *, chunk_bytes: int = UPLOAD_CHUNK_BYTES) -> None:
        if isinstance(source, str):
            raise TypeError("a body must be bytes, a binary file or an iterable of bytes, not str")
        if not (isinstance(source, BytesLike) or callable(getattr(source, "read", None))
                or isinstance(source, (AsyncIterable, Iterable))):
            raise TypeError(f"cannot send a {type(source).__name__} as a body")
        self._source = source
        self._chunk_bytes = chunk_bytes
        self.started = False
        """True once bytes were taken from the source: it cannot be replayed."""
        self.error: Exception | None = None
        """What the source raised, if it failed: the real cause when the connection then breaks."""

    @property
    def replayable(self) -> bool:
        return isinstance(self._source, BytesLike) or not self.started

    def body(self) -> bytes | AsyncIterator[bytes]:
        """What one attempt sends: the bytes themselves, or a fresh chunk generator."""
        if isinstance(self._source, BytesLike):
            return bytes(self._source)
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._read():
                if not isinstance(chunk, BytesLike):
                    raise TypeError(f"a body source yielded {type(chunk).__name__}, not bytes")
                if chunk:
                    self.started = True
                    yield bytes(chunk)
        except Exception as exc:
            self.error = exc
            raise

    async def _read(self) -> AsyncIterator[bytes]:
        source, loop = self._source, asyncio.get_running_loop()
        read = getattr(source, "read", None)
        if callable(read):
            is_async = inspect.iscoroutinefunction(read)
            while True:
                chunk = await read(self._chunk_bytes) if is_async else await loop.run_in_executor(
                    None, read, self._chunk_bytes)
                if not chunk:
                    return
                yield chunk
        elif isinstance(source, AsyncIterable):
            async for chunk in source:
                yield chunk
        else:
            items = iter(source)
            while (chunk := await loop.run_in_executor(None, next, items, _END)) is not _END:
                yield chunk
