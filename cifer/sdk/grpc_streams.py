"""The gRPC client's streams (docs/grpc.md, "Streams"), used as the REST client's are: `with` (or
`async with`) opens the call and reads its header, iterating yields the output's bytes, leaving
closes it.

The source is sent while the output is read, one message of at most `STREAM_CHUNK_BYTES` at a time,
and each output message is handed on as it arrives: gRPC's flow control holds both sides back, so
memory stays bounded whatever the size. The answer must be header, chunks, then `complete` with the
SHA-256 of the chunks, checked here: a stream that ends any other way raises, never ends quietly.

Errors follow the REST client: a refusal before any output (a revoked cifer, another owner's
envelope, a malformed envelope header) is the typed error; a failure after the output began (a
chunk that fails authentication, a broken connection) is `StreamError` with the seed's code as its
`code`, and whatever was yielded before must be thrown away.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Self

import grpc
from google.protobuf.message import Message

from cifer.sdk.errors import StreamError
from cifer.sdk.grpc_calls import envelope_header, error_of, first_metadata
from cifer.sdk.models import invalid_response
from cifer.sdk.upload import BodySource, BytesLike, Upload

STREAM_CHUNK_BYTES = 64 * 1024  # per request message: well under any server's message bound


def _slices(piece: object) -> Iterator[bytes]:
    if not isinstance(piece, BytesLike):
        raise TypeError(f"a stream source yielded {type(piece).__name__}, not bytes")
    view = memoryview(piece).cast("B")
    for start in range(0, len(view), STREAM_CHUNK_BYTES):
        yield bytes(view[start:start + STREAM_CHUNK_BYTES])


class Requests:
    """A blocking source as the call's request messages: `first` (the init), then its bytes in chunks.
    gRPC reads it in its own thread; what the source raised is kept in `error`, the real cause when
    the call then ends."""

    def __init__(self, source: BodySource, first: Message, chunk: Callable[[bytes], Message]) -> None:
        if isinstance(source, str):
            raise TypeError("a stream source must be bytes, a binary file or an iterable of bytes, not str")
        if not (isinstance(source, BytesLike) or callable(getattr(source, "read", None))
                or isinstance(source, Iterable)):
            kind = "an async iterable: use AsyncCiferGrpcClient" if isinstance(source, AsyncIterable) else \
                f"a {type(source).__name__}"
            raise TypeError(f"cannot stream {kind}")
        self._source, self._first, self._chunk = source, first, chunk
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[Message]:
        try:
            yield self._first
            for piece in self._pieces():
                for part in _slices(piece):
                    yield self._chunk(part)
        except Exception as exc:
            self.error = exc
            raise

    def _pieces(self) -> Iterator[object]:
        source = self._source
        if isinstance(source, BytesLike):
            yield source
            return
        read = getattr(source, "read", None)
        if callable(read):
            while chunk := read(STREAM_CHUNK_BYTES):
                yield chunk
            return
        yield from source  # type: ignore[misc]


class AsyncRequests:
    """The same for the asyncio client: any source `Upload` takes (files are read in the executor)."""

    def __init__(self, source: BodySource, first: Message, chunk: Callable[[bytes], Message]) -> None:
        self._upload = Upload(source, chunk_bytes=STREAM_CHUNK_BYTES)
        self._first, self._chunk = first, chunk
        self._error: Exception | None = None

    @property
    def error(self) -> Exception | None:
        return self._upload.error or self._error

    async def __aiter__(self) -> AsyncIterator[Message]:
        try:
            yield self._first
            body = self._upload.body()
            if isinstance(body, bytes):
                for part in _slices(body):
                    yield self._chunk(part)
                return
            async for piece in body:
                for part in _slices(piece):
                    yield self._chunk(part)
        except Exception as exc:
            self._error = exc
            raise


class _Reading:
    """One answer's order: header first, then chunks, then `complete` with the SHA-256 of the chunks."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.complete = False

    @staticmethod
    def header(message: Message | None) -> Message:
        if message is None or message.WhichOneof("data") != "header":
            raise invalid_response("the stream did not begin with its header")
        return message.header

    def piece(self, message: Message) -> bytes | None:
        """The chunk's bytes; None for `complete`, whose checksum must be that of the chunks."""
        which = message.WhichOneof("data")
        if self.complete or which not in ("chunk", "complete"):
            raise invalid_response("the stream's messages are out of order")
        if which == "chunk":
            self._digest.update(message.chunk)
            return message.chunk
        if message.complete.checksum != self._digest.digest():
            raise StreamError("the stream's checksum does not match what arrived; discard the output")
        self.complete = True
        return None

    def end(self) -> None:
        if not self.complete:
            raise StreamError("the stream ended without its last message; discard the output")


class _Facts:
    """What a stream says about itself beside its bytes; filled in when it is entered."""

    reads_first_chunk = False
    cifer_id: str | None = None
    key_version: int | None = None
    request_id: str | None = None

    def _header(self, header: Message) -> None:
        raise NotImplementedError

    def _first_chunk(self, piece: bytes) -> None:
        """Only for a stream whose first output chunk says more (`reads_first_chunk`)."""


class _EncryptFacts(_Facts):
    """`cifer_id` and `key_version` (from the envelope's own header, as REST's X-Cifer-* headers say
    them), `algorithm` (the KEM, as REST's X-Cifer-Algorithm), `aead`, and `envelope_size` when the
    plaintext's size was given."""

    reads_first_chunk = True
    algorithm: str | None = None
    aead: str | None = None
    envelope_size: int | None = None

    def _header(self, header: Message) -> None:
        self.algorithm = header.algorithm.kem or None
        self.aead = header.algorithm.aead or None
        self.envelope_size = header.total_size or None

    def _first_chunk(self, piece: bytes) -> None:
        sealed = envelope_header(piece)
        if sealed is not None:
            self.cifer_id, self.key_version = sealed.cifer_id, sealed.key_version


class _DecryptFacts(_Facts):
    """`cifer_id`, `key_version` and `metadata` of the envelope, once its header authenticated."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}

    def _header(self, header: Message) -> None:
        self.cifer_id = header.cifer_id or None
        self.key_version = header.key_version or None
        self.metadata = dict(header.metadata)


class _Call:
    """What the blocking and the asyncio streams share: the call's state and its failures."""

    def __init__(self, open_call: Callable[[Any], Any], requests: Requests | AsyncRequests, target: str) -> None:
        super().__init__()  # the facts' (a stream class lists its call first, its facts second)
        self._open, self._requests, self._target = open_call, requests, target
        self._call: Any = None
        self._reading = _Reading()
        self._pending: bytes | None = None
        self._finished = False

    def _failure(self, exc: grpc.RpcError, *, begun: bool) -> Exception:
        if self._requests.error is not None:  # our source failed first; the call merely ended with it
            return self._requests.error
        error = error_of(exc, self._target)
        if not begun:
            return error
        cut = StreamError(f"the stream was cut off before its end ({error.code}: {error.message}); discard the output",
                          code=error.code, details=error.details, request_id=error.request_id)
        cut.__cause__ = error
        return cut

    def _started(self, header: Message, first_chunk: Message | None) -> None:
        self._header(self._reading.header(header))  # type: ignore[attr-defined]
        if self.reads_first_chunk:  # type: ignore[attr-defined]
            if first_chunk is None:
                self._reading.end()
            self._pending = self._reading.piece(first_chunk)
            if self._pending:
                self._first_chunk(self._pending)  # type: ignore[attr-defined]

    def _not_open(self) -> RuntimeError:
        return RuntimeError("the stream is not open: use it in `with` (or `async with`)")


class _BlockingStream(_Call):
    def _next(self, *, begun: bool) -> Message | None:
        try:
            return next(self._call)
        except StopIteration:
            return None
        except grpc.RpcError as exc:
            failure = self._failure(exc, begun=begun)
        raise failure from failure.__cause__

    def __enter__(self) -> Self:
        self._call = self._open(iter(self._requests))
        try:
            header = self._next(begun=False)
            self._started(header, self._next(begun=False) if self.reads_first_chunk else None)  # type: ignore[attr-defined]
            self.request_id = first_metadata(self._call.initial_metadata(), "x-request-id")
        except BaseException:
            self._call.cancel()
            raise
        return self

    def __iter__(self) -> Iterator[bytes]:
        if self._call is None:
            raise self._not_open()
        if self._pending:
            piece, self._pending = self._pending, None
            yield piece
        while (message := self._next(begun=True)) is not None:
            piece = self._reading.piece(message)
            if piece:
                yield piece
        self._reading.end()
        self._finished = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Ends the call; one not read to its end is cancelled, stopping the upload too."""
        if self._call is not None and not self._finished:
            self._call.cancel()


class _AsyncStream(_Call):
    async def _next(self, *, begun: bool) -> Message | None:
        try:
            message = await self._call.read()
        except grpc.RpcError as exc:
            failure = self._failure(exc, begun=begun)
        else:
            return None if message is grpc.aio.EOF else message
        raise failure from failure.__cause__

    async def __aenter__(self) -> Self:
        self._call = self._open(self._requests)
        try:
            header = await self._next(begun=False)
            first_chunk = await self._next(begun=False) if self.reads_first_chunk else None  # type: ignore[attr-defined]
            self._started(header, first_chunk)
            self.request_id = first_metadata(await self._call.initial_metadata(), "x-request-id")
        except BaseException:
            self._call.cancel()
            raise
        return self

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._call is None:
            raise self._not_open()
        if self._pending:
            piece, self._pending = self._pending, None
            yield piece
        while (message := await self._next(begun=True)) is not None:
            piece = self._reading.piece(message)
            if piece:
                yield piece
        self._reading.end()
        self._finished = True

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Ends the call; one not read to its end is cancelled, stopping the upload too."""
        if self._call is not None and not self._finished:
            self._call.cancel()


class EncryptStream(_BlockingStream, _EncryptFacts):
    """`EncryptStream` from blocking code: yields the envelope's bytes."""


class DecryptStream(_BlockingStream, _DecryptFacts):
    """`DecryptStream` from blocking code: yields the plaintext, each chunk only once it authenticated."""


class AsyncEncryptStream(_AsyncStream, _EncryptFacts):
    """`EncryptStream` from asyncio code: yields the envelope's bytes."""


class AsyncDecryptStream(_AsyncStream, _DecryptFacts):
    """`DecryptStream` from asyncio code: yields the plaintext, each chunk only once it authenticated."""

