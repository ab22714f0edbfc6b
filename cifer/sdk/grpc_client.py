"""`CiferGrpcClient` and `AsyncCiferGrpcClient`: the SDK over the sidecar's gRPC API (seed 000 §5,
docs/grpc.md), with the REST clients' surface for what gRPC serves, so code written against
`CiferClient` runs against either:

    client = CiferGrpcClient()                       # $CIFER_GRPC_TARGET, else localhost:9090
    my_cifer = client.cifers.create(name="my-key")
    encrypted = client.encrypt(my_cifer.id, b"secret data")
    decrypted = client.decrypt(encrypted.ciphertext)

Served: `cifers.create/get/list/rotate/revoke`, `keys.get`, `encrypt`, `decrypt`, `encrypt_stream`,
`decrypt_stream`, answering the SDK's own models and raising its typed errors. Not served by gRPC:
`cifers.update`, `webhooks`. The seed's CreateCiferRequest has no algorithm and its policy only
`auto_rotate_days` and `allowed_operations`; asking for more is a ValueError, not a silent drop.

grpc is imported when a client is made, not before: the base install has no grpcio, and
`import cifer` must not need it (the `grpc` extra installs it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

import cifer
from cifer import extras
from cifer.sdk.retry import RetryPolicy
from cifer.sdk.settings import API_KEY_ENV, ClientSettings

if TYPE_CHECKING:
    from cifer.sdk.async_client import Ciphertext
    from cifer.sdk.models import DecryptResult, EncryptResult
    from cifer.sdk.upload import BodySource

DEFAULT_TARGET = "localhost:9090"
TARGET_ENV = "CIFER_GRPC_TARGET"
FEATURE = "the SDK's gRPC client (CiferGrpcClient)"


@dataclasses.dataclass(frozen=True)
class GrpcSettings:
    """Where the gRPC API is, with what credential, and how long a call may take."""

    target: str
    """host:port of the sidecar's gRPC port (plaintext: the sidecar listens on loopback)."""
    api_key: str | Callable[[], str | None] | None = dataclasses.field(default=None, repr=False)  # never logged
    """Sent as `authorization: Bearer <key>` metadata when set; a callable is asked on every call."""
    timeout_s: float = 60.0
    """Deadline of a unary call; streams have none."""
    max_message_bytes: int = 64 * 1024 * 1024
    """Largest answer message accepted (gRPC's default, 4 MiB, would refuse a large `decrypt`)."""

    @classmethod
    def resolve(cls, *, target: str | None, api_key: str | Callable[[], str | None] | None,
                timeout_s: float, max_message_bytes: int) -> GrpcSettings:
        if api_key is not None and not isinstance(api_key, str) and not callable(api_key):
            raise TypeError("api_key must be a string or a function returning the current token")
        target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
        if not isinstance(target, str) or "://" in target.removeprefix("dns:///") or not target.strip():
            raise ValueError(f"target must be host:port (a gRPC target), got {target!r}")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        return cls(target=target, api_key=key or None, timeout_s=timeout_s, max_message_bytes=max_message_bytes)

    bearer_token = ClientSettings.bearer_token  # one reading of a key that may be a function

    def metadata(self, idempotency_key: str | None = None) -> tuple[tuple[str, str], ...]:
        token = self.bearer_token()
        pairs = [("authorization", f"Bearer {token}")] if token else []
        if idempotency_key is not None:
            pairs.append(("x-idempotency-key", idempotency_key))
        return tuple(pairs)

    def channel_options(self) -> list[tuple[str, Any]]:
        return [("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", self.max_message_bytes),
                ("grpc.primary_user_agent", f"cifer-python/{cifer.__version__}")]


def _modules() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType]:
    """grpc and the client's modules that need it, or MissingExtra naming the `grpc` extra."""
    grpc = extras.require("grpc", extra="grpc", feature=FEATURE)
    extras.require("grpc_status", extra="grpc", feature=FEATURE)
    from cifer.sdk import grpc_calls, grpc_streams
    from cifer.v1 import cifer_pb2_grpc

    return grpc, grpc_calls, grpc_streams, cifer_pb2_grpc


class _Client:
    """What both clients share: settings, retries, and the calls built once in grpc_calls."""

    def __init__(self, api_key: str | Callable[[], str | None] | None, *, target: str | None, max_retries: int,
                 retry: RetryPolicy | None, timeout_s: float, max_message_bytes: int) -> None:
        self._grpc, self._calls, self._streams, self._services = _modules()
        self.settings = GrpcSettings.resolve(target=target, api_key=api_key, timeout_s=timeout_s,
                                             max_message_bytes=max_message_bytes)
        self._retry = retry or RetryPolicy(max_retries=max_retries)
        self.cifers = self._calls.Cifers(self._call)
        self.keys = self._calls.Keys(self._call)

    @property
    def target(self) -> str:
        return self.settings.target

    def _call(self, rpc: str, request: Any, parse: Callable[[Any], Any], *, idempotency_key: str | None = None) -> Any:
        raise NotImplementedError

    def _delay(self, attempt: int, exc: Exception) -> tuple[float | None, Exception]:
        """The typed error of a failed attempt and the wait before the next (None: give up)."""
        error = self._calls.error_of(exc, self.settings.target)
        return self._retry.delay_s(attempt, error), error

    def _stream_requests(self, kind: type, cifer_id: str | None, source: BodySource,
                         metadata: Mapping[str, str] | None) -> tuple[Any, Any]:
        pb = self._calls.pb
        if cifer_id is not None:
            first = pb.EncryptStreamRequest(init=pb.EncryptStreamInit(
                cifer_id=self._calls.checked_id(cifer_id), metadata=dict(metadata or {})))
            return kind(source, first, lambda part: pb.EncryptStreamRequest(chunk=part)), "EncryptStream"
        first = pb.DecryptStreamRequest(init=pb.DecryptStreamInit())
        return kind(source, first, lambda part: pb.DecryptStreamRequest(chunk=part)), "DecryptStream"

    def encrypt(self, cifer_id: str, plaintext: bytes, *, metadata: Mapping[str, str] | None = None) -> Any:
        """As `CiferClient.encrypt`: seal small data (seed §4.3); an `EncryptResult`."""
        return self._call("Encrypt", self._calls.encrypt_request(cifer_id, plaintext, metadata),
                          self._calls.encrypt_result)

    def decrypt(self, ciphertext: Ciphertext) -> Any:
        """As `CiferClient.decrypt`: raw envelope bytes, their base64 text, or an `EncryptResult`."""
        from cifer.sdk.async_client import envelope_bytes

        return self._call("Decrypt", self._calls.pb.DecryptRequest(ciphertext=envelope_bytes(ciphertext)),
                          self._calls.decrypt_result)


class CiferGrpcClient(_Client):
    """The CIFER API over gRPC from ordinary (blocking) code; arguments as `AsyncCiferGrpcClient`'s.
    Thread-safe: calls share one channel. Close it, or use `with`."""

    def __init__(self, api_key: str | Callable[[], str | None] | None = None, *, target: str | None = None,
                 max_retries: int = 3, retry: RetryPolicy | None = None, timeout_s: float = 60.0,
                 max_message_bytes: int = GrpcSettings.max_message_bytes) -> None:
        super().__init__(api_key, target=target, max_retries=max_retries, retry=retry, timeout_s=timeout_s,
                         max_message_bytes=max_message_bytes)
        self._channel = self._grpc.insecure_channel(self.settings.target, options=self.settings.channel_options())
        self._stub = self._services.CiferServiceStub(self._channel)

    def _call(self, rpc: str, request: Any, parse: Callable[[Any], Any], *, idempotency_key: str | None = None) -> Any:
        method, attempt = getattr(self._stub, rpc), 0
        while True:
            try:
                answer = method(request, metadata=self.settings.metadata(idempotency_key),
                                timeout=self.settings.timeout_s)
            except self._grpc.RpcError as exc:
                delay, error = self._delay(attempt, exc)
            else:
                return parse(answer)
            if delay is None:
                raise error from error.__cause__
            time.sleep(delay)
            attempt += 1

    def encrypt_stream(self, cifer_id: str, source: BodySource, *, metadata: Mapping[str, str] | None = None) -> Any:
        """As `CiferClient.encrypt_stream`: `with client.encrypt_stream(id, f) as encrypted: for chunk in
        encrypted`. `source` is bytes, a binary file or an iterable of bytes, sent while the envelope
        comes back. `cifer_id`, `key_version`, `algorithm` (the KEM) and `aead` are known once entered."""
        requests, rpc = self._stream_requests(self._streams.Requests, cifer_id, source, metadata)
        return self._streams.EncryptStream(self._opener(rpc), requests, self.settings.target)

    def decrypt_stream(self, source: BodySource) -> Any:
        """As `CiferClient.decrypt_stream`; a failure after the plaintext began raises `StreamError`
        while iterating (its `code` says why): discard what came before."""
        requests, rpc = self._stream_requests(self._streams.Requests, None, source, None)
        return self._streams.DecryptStream(self._opener(rpc), requests, self.settings.target)

    def _opener(self, rpc: str) -> Callable[[Any], Any]:
        method = getattr(self._stub, rpc)
        return lambda requests: method(requests, metadata=self.settings.metadata())

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> CiferGrpcClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncCiferGrpcClient(_Client):
    """The CIFER API over gRPC from asyncio code, through the sidecar's gRPC port (or `cifer dev
    --grpc-port`).

    `target` defaults to $CIFER_GRPC_TARGET, then localhost:9090; `api_key` to $CIFER_API_KEY, then
    none (the sidecar then acts with its pod's identity), and may be a function returning the current
    token, asked before every call. Unary calls failing with RESOURCE_EXHAUSTED from a rate limit,
    UNAVAILABLE or no answer are retried up to `max_retries` times with backoff (RetryInfo's delay
    honoured), creates and rotations under one idempotency key; streams are not retried. Use it as
    `async with AsyncCiferGrpcClient() as client:` or call `close()`.
    """

    def __init__(self, api_key: str | Callable[[], str | None] | None = None, *, target: str | None = None,
                 max_retries: int = 3, retry: RetryPolicy | None = None, timeout_s: float = 60.0,
                 max_message_bytes: int = GrpcSettings.max_message_bytes) -> None:
        super().__init__(api_key, target=target, max_retries=max_retries, retry=retry, timeout_s=timeout_s,
                         max_message_bytes=max_message_bytes)
        self._channel: Any = None
        self._stub_: Any = None

    def _stub(self) -> Any:
        """The stub, its channel made on first use: grpc.aio wants it made inside the running loop."""
        if self._stub_ is None:
            self._channel = self._grpc.aio.insecure_channel(self.settings.target,
                                                            options=self.settings.channel_options())
            self._stub_ = self._services.CiferServiceStub(self._channel)
        return self._stub_

    async def _call(self, rpc: str, request: Any, parse: Callable[[Any], Any], *,  # type: ignore[override]
                    idempotency_key: str | None = None) -> Any:
        method, attempt = getattr(self._stub(), rpc), 0
        while True:
            try:
                answer = await method(request, metadata=self.settings.metadata(idempotency_key),
                                      timeout=self.settings.timeout_s)
            except self._grpc.RpcError as exc:
                delay, error = self._delay(attempt, exc)
            else:
                return parse(answer)
            if delay is None:
                raise error from error.__cause__
            await asyncio.sleep(delay)
            attempt += 1

    async def encrypt(self, cifer_id: str, plaintext: bytes, *,
                      metadata: Mapping[str, str] | None = None) -> EncryptResult:
        """As `AsyncCiferClient.encrypt`: seal small data (seed §4.3)."""
        return await super().encrypt(cifer_id, plaintext, metadata=metadata)

    async def decrypt(self, ciphertext: Ciphertext) -> DecryptResult:
        """As `AsyncCiferClient.decrypt`: raw envelope bytes, their base64 text, or an `EncryptResult`."""
        return await super().decrypt(ciphertext)

    def encrypt_stream(self, cifer_id: str, source: BodySource, *, metadata: Mapping[str, str] | None = None) -> Any:
        """As `AsyncCiferClient.encrypt_stream`: `async with client.encrypt_stream(id, f) as encrypted:
        async for chunk in encrypted`; `source` is bytes, a binary file or an (async) iterable of bytes."""
        requests, rpc = self._stream_requests(self._streams.AsyncRequests, cifer_id, source, metadata)
        return self._streams.AsyncEncryptStream(self._opener(rpc), requests, self.settings.target)

    def decrypt_stream(self, source: BodySource) -> Any:
        """As `AsyncCiferClient.decrypt_stream`; a failure after the plaintext began raises `StreamError`."""
        requests, rpc = self._stream_requests(self._streams.AsyncRequests, None, source, None)
        return self._streams.AsyncDecryptStream(self._opener(rpc), requests, self.settings.target)

    def _opener(self, rpc: str) -> Callable[[Any], Any]:
        return lambda requests: getattr(self._stub(), rpc)(requests.__aiter__(), metadata=self.settings.metadata())

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub_ = None

    async def __aenter__(self) -> AsyncCiferGrpcClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
