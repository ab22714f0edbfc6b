"""`AsyncCiferClient`: the SDK's one implementation, on aiohttp. `CiferClient` runs this very
object on a private event loop rather than doing anything twice."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from types import TracebackType

from cifer.sdk.breaker import CircuitBreaker, CircuitState
from cifer.sdk.errors import InvalidCiphertextError
from cifer.sdk.hooks import RequestHook
from cifer.sdk.models import DecryptResult, EncryptResult
from cifer.sdk.resources import Cifers, Keys, Webhooks
from cifer.sdk.retry import RetryPolicy
from cifer.sdk.settings import ClientSettings
from cifer.sdk.streams import DecryptStream, EncryptStream
from cifer.sdk.transport import Sleep, Transport
from cifer.sdk.upload import BodySource, Upload

Ciphertext = bytes | bytearray | memoryview | str | EncryptResult


def _bytes(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def envelope_bytes(ciphertext: Ciphertext) -> bytes:
    """The raw envelope from what callers hold: the bytes, their base64 text, or an EncryptResult."""
    if isinstance(ciphertext, EncryptResult):
        return ciphertext.ciphertext
    if isinstance(ciphertext, str):
        try:
            return base64.b64decode(ciphertext, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidCiphertextError("the ciphertext text is not valid base64") from None
    return _bytes(ciphertext, "ciphertext")


def _metadata_header(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if not metadata:
        return {}
    return {"X-Cifer-Metadata": json.dumps(dict(metadata), separators=(",", ":"))}  # ASCII: \\u escapes


class AsyncCiferClient:
    """The CIFER API from asyncio code, through the sidecar (or `cifer dev`).

    `base_url` defaults to $CIFER_PROXY_URL, then http://localhost:8080; `api_key` to
    $CIFER_API_KEY, then none (the sidecar then acts with its pod's own identity). `api_key` may
    be a function of no arguments returning the current bearer token, called before every
    request (e.g. reading a projected ServiceAccount token file the kubelet rotates). `ca_file`
    (else $CIFER_CA_FILE) is the CA bundle an https server is verified against. Calls that
    fail with 429, 503 or no answer are retried up to `max_retries` times with backoff.
    Use it as `async with AsyncCiferClient() as client:` or call `close()`.

    Seed §6.6, with the TypeScript SDK's semantics and names: `circuit_breaker` is a
    `CircuitBreaker(failure_threshold=5, reset_timeout_s=30.0)` (the default), or False for none;
    `on_request(event)` is the metrics hook, called with a `RequestEvent` after every HTTP attempt;
    `tracer` an OpenTelemetry Tracer, giving one client span per call and its `traceparent`.
    """

    def __init__(
        self, api_key: str | Callable[[], str | None] | None = None, *, base_url: str | None = None, max_retries: int = 3,
        retry: RetryPolicy | None = None, timeout_s: float = 60.0, connect_timeout_s: float = 10.0,
        stream_idle_timeout_s: float = 300.0, sleep: Sleep | None = None, ca_file: str | None = None,
        circuit_breaker: CircuitBreaker | bool = True, on_request: RequestHook | None = None, tracer: object | None = None,
    ) -> None:
        settings = ClientSettings.resolve(
            base_url=base_url, api_key=api_key, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s,
            stream_idle_timeout_s=stream_idle_timeout_s, ca_file=ca_file,
        )
        retry = retry or RetryPolicy(max_retries=max_retries)
        if circuit_breaker is True:
            circuit_breaker = CircuitBreaker()
        elif circuit_breaker is not False and not isinstance(circuit_breaker, CircuitBreaker):
            raise TypeError("circuit_breaker must be a CircuitBreaker, True (the default one) or False (none)")
        if on_request is not None and not callable(on_request):
            raise TypeError("on_request must be a function of one RequestEvent")
        self._transport = Transport(
            settings, retry, breaker=circuit_breaker or None, on_request=on_request, tracer=tracer,
            **({"sleep": sleep} if sleep is not None else {}),
        )
        self.cifers = Cifers(self._transport)
        self.keys = Keys(self._transport)
        self.webhooks = Webhooks(self._transport)

    @property
    def base_url(self) -> str:
        return self._transport.settings.base_url

    @property
    def circuit_state(self) -> CircuitState:
        """closed, open or half-open; always closed without a breaker."""
        return self._transport.breaker.state if self._transport.breaker is not None else "closed"

    async def encrypt(self, cifer_id: str, plaintext: bytes, *, metadata: Mapping[str, str] | None = None) -> EncryptResult:
        """Seal `plaintext` to the CIFER's public key (seed §4.3, JSON form): for small data;
        use `encrypt_stream` for files."""
        body = {"cifer_id": cifer_id, "plaintext": base64.b64encode(_bytes(plaintext, "plaintext")).decode(),
                "encoding": "base64"}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return EncryptResult.from_api(await self._transport.call("POST", "/v1/encrypt", json_body=body))

    async def decrypt(self, ciphertext: Ciphertext) -> DecryptResult:
        """Open an envelope (seed §4.4): raw bytes, their base64 text, or an `EncryptResult`."""
        body = {"ciphertext": base64.b64encode(envelope_bytes(ciphertext)).decode(), "encoding": "base64"}
        return DecryptResult.from_api(await self._transport.call("POST", "/v1/decrypt", json_body=body))

    def encrypt_stream(self, cifer_id: str, source: BodySource, *,
                       metadata: Mapping[str, str] | None = None) -> EncryptStream:
        """Seed §10.2: `async with client.encrypt_stream(id, f) as encrypted: async for chunk in
        encrypted`. `source` is a binary file, bytes, or an (async) iterable of bytes; it is
        sent while the envelope comes back, in bounded memory."""
        upload = Upload(source)
        headers = {"X-Cifer-Id": _header_value(cifer_id), **_metadata_header(metadata)}
        return EncryptStream(lambda: self._transport.open_stream("/v1/encrypt", headers, upload), upload)

    def decrypt_stream(self, source: BodySource) -> DecryptStream:
        """Seed §10.2: stream an envelope up and its plaintext down. A ciphertext that fails
        authentication part-way raises `StreamError` while iterating: discard what came before."""
        upload = Upload(source)
        return DecryptStream(lambda: self._transport.open_stream("/v1/decrypt", {}, upload), upload)

    async def shutdown_sidecar(self) -> None:
        """Stops this pod's sidecar (`POST /v1/shutdown`), as a Job's application does once it is done,
        so that the pod completes (docs/injection.md). Sent as the pod, without this client's
        credential, and once: the sidecar is gone after. Refused (a 403, raised as its typed error)
        anywhere but from the pod's own containers."""
        await self._transport.as_the_pod("POST", "/v1/shutdown")

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncCiferClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


def _header_value(cifer_id: str) -> str:
    """A cifer id fit for a header: a non-empty string without line breaks."""
    if not isinstance(cifer_id, str) or not cifer_id or not cifer_id.isprintable():
        raise TypeError("cifer_id must be a non-empty printable string")
    return cifer_id
