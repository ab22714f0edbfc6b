"""The sidecar's decapsulations: its recipient key, and its concurrent decrypts coalesced into
batched `/v1/decapsulate` calls.

A decrypt asks for one header's data key. The first ask for a credential opens a short window
(`decap_batch_window_ms`); every ask with the same credential that arrives in it goes into the same
call, up to `decap_max_batch` headers. At most CALLS_IN_FLIGHT calls per credential are under way;
asks that arrive meanwhile wait and leave together when one ends. Asks with
different credentials never share a call: the key service authorizes, audits and rate-limits each
call as its credential's. Each caller gets its own header's data key or error, as a call of its own
would have answered it; a failure of the whole call (401, 429 with its headers, 503) is every
caller's. The recipient key pair lives here, in memory only, and rotates by the clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping

from cifer.api.errors import ApiError, ErrorCode
from cifer.keyrelease import RotatingRecipientKey
from cifer_proxy.keyservice import KeyServiceClient, Released

log = logging.getLogger("cifer.proxy")
CALLS_IN_FLIGHT = 2  # per credential: the next batch gathers while one is answered, so neither side idles


@dataclasses.dataclass(frozen=True)
class _Ask:
    header: bytes
    request_id: str
    context: Mapping[str, str] | None
    answer: asyncio.Future[tuple[Released, dict[str, str]]]


@dataclasses.dataclass
class _Queue:
    """One credential's asks that wait, and its calls under way."""

    waiting: list[_Ask] = dataclasses.field(default_factory=list)
    in_flight: int = 0
    gathering: bool = False  # a window is open: the next call leaves when it closes


class Decapsulations:
    def __init__(self, client: KeyServiceClient, recipients: RotatingRecipientKey, *, window_s: float,
                 max_batch: int) -> None:
        if not 0 <= window_s <= 0.1 or max_batch < 1:
            raise ValueError("the decapsulation window is 0 to 100 ms and a batch holds at least one header")
        self._client, self._recipients = client, recipients
        self._window_s, self._max_batch = window_s, max_batch
        self._queues: dict[str, _Queue] = {}  # by credential, while it has asks or calls
        self._tasks: set[asyncio.Task[None]] = set()

    async def data_key(self, credential: str, header: bytes, *, request_id: str,
                       context: Mapping[str, str] | None = None) -> tuple[Released, dict[str, str]]:
        """The data key of one envelope header (with its audit record's id), and the rate-limit
        headers of the call that fetched it. `context` (why, for whom) goes into the audit record."""
        ask = _Ask(header, request_id, context, asyncio.get_running_loop().create_future())
        queue = self._queues.setdefault(credential, _Queue())
        queue.waiting.append(ask)
        self._next_call(credential, queue, window_s=self._window_s)
        return await ask.answer

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _next_call(self, credential: str, queue: _Queue, *, window_s: float) -> None:
        """Opens a window for the next call of `credential`, unless one is open or enough calls are under
        way (the asks wait for one of them to end, and then leave together)."""
        if queue.gathering or queue.in_flight >= CALLS_IN_FLIGHT or not queue.waiting:
            if not (queue.waiting or queue.in_flight or queue.gathering) and self._queues.get(credential) is queue:
                del self._queues[credential]
            return
        queue.gathering = True
        task = asyncio.create_task(self._call(credential, queue, window_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, credential: str, queue: _Queue, window_s: float) -> None:
        try:
            await asyncio.sleep(window_s)
        except asyncio.CancelledError:  # the sidecar stops: nobody is left hanging
            for ask in queue.waiting:
                _settle(ask, ApiError(ErrorCode.SERVICE_UNAVAILABLE))
            raise
        finally:
            queue.gathering = False
        batch, queue.waiting[:self._max_batch] = queue.waiting[:self._max_batch], []
        queue.in_flight += 1
        self._next_call(credential, queue, window_s=self._window_s)  # the next call may gather meanwhile
        try:
            await self._send(credential, batch)
        finally:
            queue.in_flight -= 1
            self._next_call(credential, queue, window_s=0)  # what waited for this call leaves now

    async def _send(self, credential: str, batch: list[_Ask]) -> None:
        recipient_key = self._recipients.current()  # the answers open with the key they were sealed to
        try:
            outcomes, passed = await self._client.decapsulate(
                credential, [ask.header for ask in batch], request_id=batch[0].request_id,
                recipient_key=recipient_key, contexts=[ask.context for ask in batch])
        except ApiError as err:
            for ask in batch:
                _settle(ask, ApiError(err.code, err.message, err.details, headers=err.headers))
            return
        except BaseException as exc:
            for ask in batch:
                _settle(ask, ApiError(ErrorCode.SERVICE_UNAVAILABLE))
            if not isinstance(exc, Exception):
                raise
            log.exception("a batched decapsulation failed")
            return
        for ask, outcome in zip(batch, outcomes):
            _settle(ask, outcome if isinstance(outcome, ApiError) else (outcome, passed))


def _settle(ask: _Ask, outcome: ApiError | tuple[Released, dict[str, str]]) -> None:
    if ask.answer.done():  # its caller went away
        return
    if isinstance(outcome, ApiError):
        ask.answer.set_exception(outcome)
    else:
        ask.answer.set_result(outcome)
