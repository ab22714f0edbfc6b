"""Seed §6.6 in the Python SDK, as the TypeScript SDK does it (same semantics, same names in
each language's spelling): the circuit breaker, the `on_request` metrics hook and the tracer's
client spans, over real HTTP against the stand-in sidecar (tests/sdk_standin.py)."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest
from sdk_standin import API_KEY, error

from cifer import AsyncCiferClient, CircuitBreaker, CircuitOpenError, NotFoundError, RequestEvent, ServiceUnavailableError
from cifer.sdk.retry import RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unavailable():
    return error("SERVICE_UNAVAILABLE", 503)


async def test_the_breaker_opens_after_repeated_outages_and_sends_nothing_while_open(standin, sleeps):
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=30, clock=clock)
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, max_retries=0, circuit_breaker=breaker) as c:
        made = await c.cifers.create(name="k")
        standin.fail_next("GET", f"/v1/cifers/{made.id}", unavailable, times=3)
        for _ in range(3):
            with pytest.raises(ServiceUnavailableError):
                await c.cifers.get(made.id)
        assert c.circuit_state == "open"
        sent = len(standin.requests)
        with pytest.raises(CircuitOpenError) as refused:
            await c.cifers.get(made.id)
        assert refused.value.code == "CIRCUIT_OPEN" and refused.value.retry_after == 30
        assert len(standin.requests) == sent  # nothing reached the server

        clock.now += 30
        assert c.circuit_state == "half-open"
        assert (await c.cifers.get(made.id)).id == made.id  # the probe succeeds and closes it
        assert c.circuit_state == "closed"


async def test_a_failed_probe_opens_the_circuit_again_at_once(standin, sleeps):
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=5, clock=clock)
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, max_retries=0, circuit_breaker=breaker) as c:
        standin.fail_next("GET", "/v1/cifers", unavailable, times=3)
        for _ in range(2):
            with pytest.raises(ServiceUnavailableError):
                await c.cifers.list()
        clock.now += 5
        with pytest.raises(ServiceUnavailableError):  # the one probe, failing
            await c.cifers.list()
        assert c.circuit_state == "open"
        with pytest.raises(CircuitOpenError):
            await c.cifers.list()


async def test_refusals_are_answers_and_never_open_the_circuit(standin, sleeps):
    breaker = CircuitBreaker(failure_threshold=2)
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, circuit_breaker=breaker) as c:
        for _ in range(4):
            with pytest.raises(NotFoundError):
                await c.cifers.get("cif_missing0000000")
        assert c.circuit_state == "closed"


async def test_retries_count_toward_the_breaker_and_no_breaker_can_be_had(standin, sleeps):
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, retry=RetryPolicy(max_retries=4),
                                circuit_breaker=CircuitBreaker(failure_threshold=3)) as c:
        standin.fail_next("GET", "/v1/cifers", unavailable, times=5)
        with pytest.raises(CircuitOpenError):  # the fourth attempt is refused by the now open circuit
            await c.cifers.list()
        assert len(standin.seen("GET", "/v1/cifers")) == 3
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, max_retries=0, circuit_breaker=False) as c:
        standin.fail_next("GET", "/v1/cifers", unavailable, times=10)
        for _ in range(10):
            with pytest.raises(ServiceUnavailableError):
                await c.cifers.list()
        assert c.circuit_state == "closed"
    with pytest.raises(TypeError):
        AsyncCiferClient(API_KEY, base_url=standin.url, circuit_breaker="yes")
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)


async def test_on_request_sees_every_attempt_by_operation_id_and_path_template(standin, sleeps):
    events: list[RequestEvent] = []
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, on_request=events.append) as c:
        made = await c.cifers.create(name="k")
        standin.fail_next("GET", f"/v1/cifers/{made.id}",
                          lambda: error("RATE_LIMIT_EXCEEDED", 429, headers={"Retry-After": "0"}))
        await c.cifers.get(made.id)
        await c.encrypt(made.id, b"x")
    summary = [(e.operation, e.method, e.path, e.attempt, e.status, e.error_code, e.will_retry) for e in events]
    assert summary == [
        ("createCifer", "POST", "/v1/cifers", 0, 201, None, False),
        ("getCifer", "GET", "/v1/cifers/{cifer_id}", 0, 429, "RATE_LIMIT_EXCEEDED", True),
        ("getCifer", "GET", "/v1/cifers/{cifer_id}", 1, 200, None, False),
        ("encryptData", "POST", "/v1/encrypt", 0, 200, None, False),
    ]
    assert all(e.duration_s >= 0 for e in events) and events[1].request_id == "req_err"


async def test_a_hook_that_raises_does_not_fail_the_call(standin, sleeps):
    def broken(event: RequestEvent) -> None:
        raise RuntimeError("metrics backend down")

    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, on_request=broken) as c:
        assert (await c.cifers.create(name="k")).name == "k"


@pytest.fixture
def otel(monkeypatch):
    """The part of opentelemetry-api the SDK uses (SpanKind, Status, StatusCode), as a stand-in
    module: the test environment does not install opentelemetry."""
    trace = types.ModuleType("opentelemetry.trace")

    class SpanKind:
        CLIENT = "CLIENT"

    class StatusCode:
        ERROR = "ERROR"

    class Status:
        def __init__(self, code, description=None):
            self.status_code, self.description = code, description

    trace.SpanKind, trace.StatusCode, trace.Status = SpanKind, StatusCode, Status
    package = types.ModuleType("opentelemetry")
    package.trace = trace
    monkeypatch.setitem(sys.modules, "opentelemetry", package)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", trace)
    return trace


class Span:
    def __init__(self, name, kind, attributes):
        self.name, self.kind, self.attributes = name, kind, dict(attributes)
        self.status, self.exceptions, self.ended = None, [], False

    def get_span_context(self):
        return types.SimpleNamespace(is_valid=True, trace_id=0x0AF7651916CD43DD8448EB211C80319C,
                                     span_id=0xB7AD6B7169203331, trace_flags=1)

    def set_attribute(self, key, value):
        self.attributes[key] = value

    def set_status(self, status):
        self.status = status

    def record_exception(self, exc):
        self.exceptions.append(exc)

    def end(self):
        self.ended = True


class Tracer:
    def __init__(self):
        self.spans: list[Span] = []

    def start_span(self, name, kind=None, attributes=None):
        self.spans.append(Span(name, kind, attributes or {}))
        return self.spans[-1]


async def test_a_tracer_gets_one_client_span_per_call_and_the_server_its_traceparent(standin, sleeps, otel):
    tracer = Tracer()
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, tracer=tracer) as c:
        standin.fail_next("POST", "/v1/cifers", unavailable)
        made = await c.cifers.create(name="traced")
        with pytest.raises(NotFoundError):
            await c.cifers.get("cif_missing0000000")
    created, missing = tracer.spans
    assert (created.name, created.kind, created.ended, created.status) == ("CIFER createCifer", "CLIENT", True, None)
    assert created.attributes == {"http.request.method": "POST", "url.template": "/v1/cifers",
                                  "cifer.operation": "createCifer", "cifer.attempts": 2}
    assert {r.headers["traceparent"] for r in standin.seen("POST", "/v1/cifers")} == {
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert missing.name == "CIFER getCifer" and missing.ended
    assert (missing.status.status_code, missing.status.description) == ("ERROR", "NOT_FOUND")
    assert missing.attributes["http.response.status_code"] == 404 and isinstance(missing.exceptions[0], NotFoundError)
    assert made.name == "traced"


async def test_streams_are_seen_by_the_hook_and_the_breaker(standin, sleeps):
    events: list[RequestEvent] = []
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, on_request=events.append) as c:
        made = await c.cifers.create(name="k")
        standin.fail_next("POST", "/v1/encrypt", unavailable)
        async with c.encrypt_stream(made.id, b"hello") as sealed:
            body = b"".join([chunk async for chunk in sealed])
    assert body.startswith(b"TOY1")
    assert [(e.operation, e.status, e.will_retry) for e in events[1:]] == [("encryptData", 503, True),
                                                                           ("encryptData", 200, False)]


async def test_the_blocking_client_takes_the_same_options(standin):
    from cifer import CiferClient

    events: list[RequestEvent] = []

    def use() -> str:  # from a worker thread, as an application thread calls it: the stand-in runs on this loop
        with CiferClient(API_KEY, base_url=standin.url, on_request=events.append,
                         circuit_breaker=CircuitBreaker(failure_threshold=1)) as c:
            c.cifers.create(name="k")
            return c.circuit_state

    assert await asyncio.get_running_loop().run_in_executor(None, use) == "closed"
    assert [e.operation for e in events] == ["createCifer"]


async def test_a_probe_answered_malformed_or_interrupted_does_not_leave_the_circuit_stuck(standin, sleeps):
    from aiohttp import web

    from cifer import CiferError

    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=1, clock=clock)
    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps, max_retries=0, circuit_breaker=breaker) as c:
        standin.fail_next("GET", "/v1/cifers", unavailable)
        with pytest.raises(ServiceUnavailableError):
            await c.cifers.list()
        clock.now += 1
        standin.fail_next("GET", "/v1/cifers", lambda: web.json_response({"hello": "world"}))
        with pytest.raises(CiferError) as malformed:  # the probe: a live server, if a confused one
            await c.cifers.list()
        assert malformed.value.code == "INVALID_RESPONSE" and c.circuit_state == "closed"

        standin.fail_next("GET", "/v1/cifers", unavailable)
        with pytest.raises(ServiceUnavailableError):
            await c.cifers.list()
        clock.now += 1

        def broken_source():
            raise OSError("disk gone")
            yield b""  # pragma: no cover

        with pytest.raises(OSError):  # the probe's own source fails before any answer
            async with c.encrypt_stream("cif_standin00000001", broken_source()) as sealed:
                [chunk async for chunk in sealed]
        assert c.circuit_state == "half-open"  # the probe is free again, not taken for good
        assert len(await c.cifers.list()) == 0 and c.circuit_state == "closed"
