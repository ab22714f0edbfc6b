"""The sidecar's batcher on its own, against a stand-in for the key-service client: batch bounds,
whole-call failures answered to every caller alike (with their headers), a garbled item failing alone,
and nobody left waiting when the sidecar stops."""

from __future__ import annotations

import asyncio

import pytest

from cifer.api.errors import ApiError, ErrorCode
from cifer.keyrelease import RotatingRecipientKey
from cifer_proxy.decaps import Decapsulations
from cifer_proxy.keyservice import Released


class StandIn:
    """Answers each header with its own bytes reversed as the data key, or what `answer` says."""

    def __init__(self, answer=None, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.contexts: list[list] = []
        self.answer, self.delay_s = answer, delay_s

    async def decapsulate(self, authorization, headers, *, request_id, recipient_key, contexts=()):
        self.calls.append((authorization, list(headers)))
        self.contexts.append(list(contexts))
        await asyncio.sleep(self.delay_s)
        if isinstance(self.answer, ApiError):
            raise self.answer
        outcomes = [self.answer(h) if self.answer else h[::-1] for h in headers]
        return [Released(o, "record of " + h.decode()) if isinstance(o, bytes) else o
                for o, h in zip(outcomes, headers)], {"X-RateLimit-Remaining": "7"}


def batcher(client, **kwargs) -> Decapsulations:
    return Decapsulations(client, RotatingRecipientKey(), **{"window_s": 0.002, "max_batch": 4, **kwargs})


async def test_no_call_holds_more_than_the_max_batch_and_each_caller_gets_its_own_key():
    client = StandIn()
    decaps = batcher(client)
    headers = [bytes([i]) * 8 for i in range(10)]
    answers = await asyncio.gather(*(decaps.data_key("Bearer a", h, request_id=f"r{i}") for i, h in enumerate(headers)))
    assert [key.data_key for key, _ in answers] == [h[::-1] for h in headers]
    assert [key.audit_record_id for key, _ in answers] == ["record of " + h.decode() for h in headers]
    assert all(passed == {"X-RateLimit-Remaining": "7"} for _, passed in answers)
    assert max(len(hs) for _, hs in client.calls) <= 4 and len(client.calls) < 10


async def test_a_whole_call_refused_with_429_answers_every_caller_alike_with_its_headers():
    refused = ApiError(ErrorCode.RATE_LIMIT_EXCEEDED, headers={"Retry-After": "30", "X-RateLimit-Remaining": "0"})
    decaps = batcher(StandIn(refused))
    answers = await asyncio.gather(*(decaps.data_key("Bearer a", b"h%d" % i, request_id="r") for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(a, ApiError) and a.code is ErrorCode.RATE_LIMIT_EXCEEDED for a in answers)
    assert all(a.headers == {"Retry-After": "30", "X-RateLimit-Remaining": "0"} for a in answers)
    assert len({id(a) for a in answers}) == 3  # each caller raises its own error object


async def test_an_item_the_client_could_not_open_fails_alone():
    garbled = ApiError(ErrorCode.SERVICE_UNAVAILABLE)
    decaps = batcher(StandIn(lambda h: garbled if h == b"bad" else h[::-1]))
    answers = await asyncio.gather(*(decaps.data_key("Bearer a", h, request_id="r") for h in (b"ab", b"bad", b"cd")),
                                   return_exceptions=True)
    assert answers[0][0].data_key == b"ba" and answers[2][0].data_key == b"dc"
    assert isinstance(answers[1], ApiError) and answers[1].code is ErrorCode.SERVICE_UNAVAILABLE


async def test_credentials_are_batched_apart():
    client = StandIn()
    decaps = batcher(client)
    await asyncio.gather(*(decaps.data_key(f"Bearer {i % 2}", b"h%d" % i, request_id="r") for i in range(8)))
    for authorization, headers in client.calls:
        assert {int(h[1:]) % 2 for h in headers} == {int(authorization[-1])}


async def test_stopping_leaves_nobody_waiting():
    decaps = batcher(StandIn(delay_s=10), window_s=0.05)
    asks = [asyncio.create_task(decaps.data_key("Bearer a", b"h", request_id="r")) for _ in range(3)]
    await asyncio.sleep(0.01)
    await decaps.close()
    for ask in asks:
        with pytest.raises(ApiError) as caught:
            await ask
        assert caught.value.code is ErrorCode.SERVICE_UNAVAILABLE


def test_bounds_are_checked_at_start():
    with pytest.raises(ValueError):
        batcher(StandIn(), window_s=1.0)
    with pytest.raises(ValueError):
        batcher(StandIn(), max_batch=0)


async def test_each_asks_context_travels_with_its_header_in_the_batch():
    client = StandIn()
    decaps = batcher(client)
    await asyncio.gather(decaps.data_key("Bearer a", b"h1", request_id="r", context={"purpose": "audit"}),
                         decaps.data_key("Bearer a", b"h2", request_id="r"))
    assert client.calls == [("Bearer a", [b"h1", b"h2"])] and client.contexts == [[{"purpose": "audit"}, None]]
