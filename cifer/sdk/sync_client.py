"""`CiferClient`: the blocking face of `AsyncCiferClient` (seed §6.4 and §10.2).

Nothing is implemented twice: each call is the async client's, run on a private event loop in
a daemon thread, and streams are its async streams, iterated one chunk at a time from there.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from cifer.sdk.async_client import AsyncCiferClient, Ciphertext
from cifer.sdk.loop_thread import LoopThread
from cifer.sdk.models import DecryptResult, EncryptResult
from cifer.sdk.streams import ResponseStream
from cifer.sdk.upload import BodySource


class Running:
    """An `AsyncCiferClient` on its private loop. Every blocking face of it (the client, its
    `cifers`, `keys`, `webhooks`, a stream call) holds this, so a client held by no variable
    (`CiferClient().cifers.list()`) lives as long as what is used of it, and when the last holder
    goes, the session is closed and the loop stopped (at once in CPython; else at collection or
    exit). `close()` does it earlier, once."""

    def __init__(self, client: AsyncCiferClient) -> None:
        self.client = client
        self.loop = LoopThread()
        self.close = weakref.finalize(self, _shut_down, self.loop, client)

    def run(self, coro: Any) -> Any:
        return self.loop.run(coro)


class Blocking:
    """An async resource (`cifers`, `keys`, `webhooks`) whose coroutine methods block instead.
    Signatures and docstrings are the async ones."""

    def __init__(self, target: object, loop: Running) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run(attribute(*args, **kwargs))

        return call

    def __dir__(self) -> list[str]:
        return [name for name in dir(self._target) if not name.startswith("_")]


class StreamCall:
    """A streamed call for `with`: entering opens it, iterating yields its bytes, leaving
    closes it. Other attributes (`headers`, and `cifer_id`, `key_version`, `metadata` of a
    decrypt) are the async stream's."""

    def __init__(self, stream: ResponseStream, running: Running) -> None:
        self._stream = stream
        self._running = running

    def __enter__(self) -> StreamCall:
        self._running.run(self._stream.__aenter__())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._running.loop.stopped:
            self._running.run(self._stream.__aexit__(exc_type, exc, tb))

    def __iter__(self) -> Iterator[bytes]:
        yield from self._running.loop.iterate(self._stream)  # a generator frame holding `self`: the client lives

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _shut_down(loop: LoopThread, client: AsyncCiferClient) -> None:
    """Close the session on its loop, then stop the loop; at most once (weakref.finalize)."""
    try:
        if not loop.stopped:
            loop.run(client.close())
    finally:
        loop.stop()


class CiferClient:
    """The CIFER API from ordinary (blocking) code. Arguments as for `AsyncCiferClient`:

        client = CiferClient(api_key="sk_live_...")
        my_cifer = client.cifers.create(name="my-encryption-key")
        encrypted = client.encrypt(my_cifer.id, b"secret data")
        decrypted = client.decrypt(encrypted.ciphertext)

    Thread-safe: calls from several threads share one loop and one connection pool. Close it
    (or use `with`); one left open is closed when nothing holds it or any part of it any more
    (`CiferClient().cifers.list()` works, then closes), or at exit.
    """

    def __init__(self, api_key: str | Callable[[], str | None] | None = None, **options: Any) -> None:
        self._async = AsyncCiferClient(api_key, **options)
        self._loop = Running(self._async)
        self.cifers = Blocking(self._async.cifers, self._loop)
        self.keys = Blocking(self._async.keys, self._loop)
        self.webhooks = Blocking(self._async.webhooks, self._loop)

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def circuit_state(self) -> str:
        return self._async.circuit_state

    def encrypt(self, cifer_id: str, plaintext: bytes, *, metadata: Mapping[str, str] | None = None) -> EncryptResult:
        """As `AsyncCiferClient.encrypt`: seal small data (seed §4.3)."""
        return self._loop.run(self._async.encrypt(cifer_id, plaintext, metadata=metadata))

    def decrypt(self, ciphertext: Ciphertext) -> DecryptResult:
        """As `AsyncCiferClient.decrypt`: raw envelope bytes, their base64 text, or an EncryptResult."""
        return self._loop.run(self._async.decrypt(ciphertext))

    def encrypt_stream(self, cifer_id: str, source: BodySource, *,
                       metadata: Mapping[str, str] | None = None) -> StreamCall:
        """As `AsyncCiferClient.encrypt_stream`, for `with ... as encrypted: for chunk in encrypted`."""
        return StreamCall(self._async.encrypt_stream(cifer_id, source, metadata=metadata), self._loop)

    def decrypt_stream(self, source: BodySource) -> StreamCall:
        """As `AsyncCiferClient.decrypt_stream`; a cut-off raises `StreamError` mid-iteration."""
        return StreamCall(self._async.decrypt_stream(source), self._loop)

    def shutdown_sidecar(self) -> None:
        """As `AsyncCiferClient.shutdown_sidecar`: a Job's application, done, stops its sidecar."""
        self._loop.run(self._async.shutdown_sidecar())

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> CiferClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

