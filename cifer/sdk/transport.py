"""HTTP to the sidecar: one aiohttp session per client, the seed's response body unwrapped,
failures turned into typed errors, retries applied. Every SDK call goes through `call` (JSON
in, the envelope's `data` out) or `open_stream` (the binary API: a body streamed up while the
answer streams down).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

import cifer
from cifer.sdk.breaker import CircuitBreaker
from cifer.sdk.errors import CiferConnectionError, CiferError, CircuitOpenError, error_from_response
from cifer.sdk.hooks import CallSpan, RequestEvent, RequestHook, operation_of, report
from cifer.sdk.models import invalid_response
from cifer.sdk.retry import RetryPolicy
from cifer.sdk.settings import ClientSettings
from cifer.sdk.upload import Upload
from cifer.tls import client_context

log = logging.getLogger("cifer.sdk")

USER_AGENT = f"cifer-python/{cifer.__version__}"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})  # the methods the server replays under a key
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error answer is a small JSON object; more is not read
# No HTTP answer, or one cut short: worth a retry, never a traceback from aiohttp.
TRANSPORT_FAILURES = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)

Sleep = Callable[[float], Awaitable[None]]


def path_segment(value: str, what: str) -> str:
    """An id as one URL path segment: a `/` or `..` in it cannot reach another endpoint."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def new_idempotency_key() -> str:
    return f"idem_{uuid.uuid4().hex}"


def checked_idempotency_key(key: str) -> str:
    """A caller's own key, as the server accepts it: 1 to 255 printable ASCII characters, not
    starting or ending with a space (HTTP would strip it, and the server would see another key)."""
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValueError("idempotency_key must be 1 to 255 printable ASCII characters, without leading or "
                         "trailing spaces")
    return key


def connection_error(settings: ClientSettings, exc: BaseException) -> CiferConnectionError:
    reason = str(exc) or ("timed out" if isinstance(exc, TimeoutError) else type(exc).__name__)
    error = CiferConnectionError(f"no answer from the CIFER API at {settings.display_url}: {reason}")
    error.__cause__ = exc
    return error


def unwrap(body: bytes) -> dict[str, Any]:
    """The `data` of a success response body (seed §2.3); every CIFER endpoint answers an object."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise invalid_response("the body is not JSON") from None
    if not isinstance(parsed, dict) or parsed.get("success") is not True or not isinstance(parsed.get("data"), dict):
        raise invalid_response("the body is not a success response body")
    return parsed["data"]


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most `limit` bytes of a body: enough for any error answer, bounded for a broken one."""
    parts, size = [], 0
    async for chunk in response.content.iter_chunked(limit):
        parts.append(chunk[: limit - size])
        size += len(parts[-1])
        if size >= limit:
            break
    return b"".join(parts)


def _discard(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    """Closes the session of a transport that was dropped open, in its loop's thread."""
    if session.closed:
        return
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if here is loop or not loop.is_running():
        _close_now(session)
    else:
        loop.call_soon_threadsafe(_close_now, session)


def _close_now(session: aiohttp.ClientSession) -> None:
    """Closes a session without awaiting (a finalizer cannot): closing its connector closes every
    connection at once; what that returns only waits for them to be gone, so it is not waited for."""
    connector = session.connector
    session.detach()  # the session counts as closed from here on
    if connector is None:
        return
    closing = connector.close().__await__()
    try:
        closing.send(None)
    except StopIteration:
        pass
    finally:
        closing.close()


class _Attempts:
    """One call's attempts as the circuit breaker, the `on_request` hook and the span see them."""

    def __init__(self, transport: Transport, method: str, path: str) -> None:
        self._transport = transport
        self.operation, self.template = operation_of(method, path)
        self.method = method
        self.attempt = 0
        self.span = CallSpan(transport.tracer, self.operation, method, self.template)
        self._started = 0.0
        self._unrecorded = False  # an attempt is under way whose outcome the breaker has not seen

    def begin(self, headers: dict[str, str]) -> dict[str, str]:
        """Before sending attempt `attempt`: the breaker may refuse; returns the headers to send."""
        self._started = time.perf_counter()
        breaker = self._transport.breaker
        if breaker is not None:
            try:
                breaker.before()
            except CircuitOpenError as refused:
                self._report(None, refused, will_retry=False)
                raise
            self._unrecorded = True
        parent = self.span.traceparent()
        return {**headers, "traceparent": parent} if parent else headers

    def succeeded(self, status: int) -> None:
        self._unrecorded = False
        if self._transport.breaker is not None:
            self._transport.breaker.record(None)
        self._report(status, None, will_retry=False)

    def failed(self, error: CiferError, *, replayable: bool = True) -> float | None:
        """Records a failed attempt; returns the wait before the next, or None to give up."""
        self._unrecorded = False
        if self._transport.breaker is not None:
            self._transport.breaker.record(error)
        delay = self._transport.retry.delay_s(self.attempt, error) if replayable else None
        self._report(error.status, error, will_retry=delay is not None)
        return delay

    @contextlib.contextmanager
    def recorded(self) -> Iterator[None]:
        """Around a call's attempts: whatever ends them is recorded, and the span ends with it."""
        failure: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            failure = exc
            self.interrupted(exc)
            raise
        finally:
            self.span.end(self.attempt + 1, failure)

    def interrupted(self, exc: BaseException) -> None:
        """An attempt ended by something else than an answer or a transport failure: a malformed
        answer still came from a live server; anything else frees the breaker's probe."""
        breaker = self._transport.breaker
        if breaker is None or not self._unrecorded:
            return
        self._unrecorded = False
        if isinstance(exc, CiferError):
            breaker.record(None)
        else:
            breaker.release()

    def _report(self, status: int | None, error: CiferError | None, *, will_retry: bool) -> None:
        report(self._transport.on_request, RequestEvent(
            operation=self.operation, method=self.method, path=self.template, attempt=self.attempt, status=status,
            error_code=error.code if error else None, duration_s=time.perf_counter() - self._started,
            request_id=error.request_id if error else None, will_retry=will_retry))


class Transport:
    """One client's connection pool, credentials, retry policy, circuit breaker and hooks.

    Redirects are not followed: the API never sends one, and following it could carry the
    Authorization header elsewhere; a 3xx is an error like any other non-2xx."""

    def __init__(self, settings: ClientSettings, retry: RetryPolicy, *, sleep: Sleep = asyncio.sleep,
                 breaker: CircuitBreaker | None = None, on_request: RequestHook | None = None,
                 tracer: object | None = None) -> None:
        self.settings = settings
        self.retry = retry
        self.breaker = breaker
        self.on_request = on_request
        self.tracer = tracer
        self._sleep = sleep  # injectable, so tests see the waits without sleeping them
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        """The session, made on first use: aiohttp wants it made inside the running loop."""
        if self._closed:
            raise RuntimeError("this CIFER client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(ssl=client_context(self.settings.ca_file)) if self.settings.ca_file
                else None,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s, sock_connect=self.settings.connect_timeout_s),
            )
            # A client nobody closed (`await AsyncCiferClient().cifers.list()`): its session is
            # closed when the last holder of this transport goes, not leaked.
            self._discard = weakref.finalize(self, _discard, self._session, asyncio.get_running_loop())
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            self._discard.detach()
            await self._session.close()
            self._session = None

    def _url(self, path: str) -> str:
        return self.settings.base_url + path

    def _headers(self, method: str, extra: Mapping[str, str] | None, idempotency_key: str | None = None
                 ) -> dict[str, str]:
        headers = dict(extra or {})
        if method in IDEMPOTENT_METHODS:  # one key per call, the same on each retry: the server replays
            if idempotency_key is None:
                headers.setdefault(IDEMPOTENCY_HEADER, new_idempotency_key())
            else:
                headers[IDEMPOTENCY_HEADER] = checked_idempotency_key(idempotency_key)
        elif idempotency_key is not None:
            raise RuntimeError(f"internal error: an idempotency key on a {method}")
        return headers

    def _authorized(self, headers: dict[str, str]) -> dict[str, str]:
        """`headers` with the credential of this moment: a rotating token is asked for each attempt."""
        token = self.settings.bearer_token()
        return {**headers, "Authorization": f"Bearer {token}"} if token else headers

    async def _wait(self, attempts: _Attempts, delay: float | None, error: CiferError, path: str) -> None:
        if delay is None:
            raise error
        log.info("CIFER %s %s failed with %s; retry %d in %.2f s", attempts.method, path, error.code,
                 attempts.attempt + 1, delay)
        await self._sleep(delay)
        attempts.attempt += 1

    async def call(
        self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One JSON call; returns the envelope's `data` or raises the typed error. A POST or
        PATCH carries `idempotency_key` (else a random one), the same on every retry."""
        request_headers = self._headers(method, headers, idempotency_key)
        request_headers["Accept"] = "application/json"
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            request_headers["Content-Type"] = "application/json"
        attempts = _Attempts(self, method, path)
        with attempts.recorded():
            while True:
                sent_headers = attempts.begin(request_headers)
                try:
                    async with self._client().request(
                        method, self._url(path), data=data, params=params, headers=self._authorized(sent_headers),
                        allow_redirects=False,
                    ) as response:
                        body = await response.read()
                        if 200 <= response.status < 300:
                            result = unwrap(body)
                            attempts.succeeded(response.status)
                            return result
                        error = error_from_response(response.status, body, response.headers)
                except TRANSPORT_FAILURES as exc:
                    error = connection_error(self.settings, exc)
                await self._wait(attempts, attempts.failed(error), error, path)

    async def as_the_pod(self, method: str, path: str) -> dict[str, Any]:
        """One call with no credential (the sidecar acts as the pod), made once: for a call after
        which the sidecar may be gone (`/v1/shutdown`), a retry would only fail."""
        try:
            async with self._client().request(method, self._url(path), headers={"Accept": "application/json"},
                                              allow_redirects=False) as response:
                body = await response.read()
                if 200 <= response.status < 300:
                    return unwrap(body)
                raise error_from_response(response.status, body, response.headers)
        except TRANSPORT_FAILURES as exc:
            raise connection_error(self.settings, exc) from None

    async def open_stream(self, path: str, headers: Mapping[str, str], upload: Upload) -> aiohttp.ClientResponse:
        """POST a binary body and return the answer once its headers are in; the body goes on
        uploading while the caller reads. Retried only while nothing was taken from the body."""
        request_headers = self._headers("POST", headers)
        request_headers["Content-Type"] = "application/octet-stream"
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.settings.connect_timeout_s, sock_read=self.settings.stream_idle_timeout_s
        )
        attempts = _Attempts(self, "POST", path)
        with attempts.recorded():
            while True:
                sent_headers = attempts.begin(request_headers)
                try:
                    response = await self._client().post(
                        self._url(path), data=upload.body(), headers=self._authorized(sent_headers), timeout=timeout,
                        allow_redirects=False,
                    )
                except TRANSPORT_FAILURES as exc:
                    if upload.error is not None:
                        raise upload.error
                    error: CiferError = connection_error(self.settings, exc)
                else:
                    if 200 <= response.status < 300:
                        attempts.succeeded(response.status)
                        return response
                    try:
                        body = await read_capped(response, MAX_ERROR_BODY_BYTES)
                    except TRANSPORT_FAILURES:
                        body = b""
                    finally:
                        response.close()  # also stops an upload still running
                    error = error_from_response(response.status, body, response.headers)
                await self._wait(attempts, attempts.failed(error, replayable=upload.replayable), error, path)
