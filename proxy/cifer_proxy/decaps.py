"""The sidecar's decapsulations: its recipient key, and its concurrent decrypts coalesced into
batched `/v1/decapsulate` calls.

A decrypt asks for one header's data key. The first ask for a credential opens a short window
(`decap_batch_window_ms`); every ask with the same credential that arrives in it, or while that
credential's call is in flight, goes into the next call, up to `decap_max_batch` headers. Asks with
different credentials never share a call: the key service authorizes, audits and rate-limits each
call as its credential's. Each caller gets its own header's data key or error, as a call of its own
would have answered it; a failure of the whole call (401, 429 with its headers, 503) is every
caller's. The recipient key pair lives here, in memory only, and rotates by the clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from cifer.api.errors import ApiError, ErrorCode
from cifer.keyrelease import RotatingRecipientKey
from cifer_proxy.keyservice import KeyServiceClient

log = logging.getLogger("cifer.proxy")


@dataclasses.dataclass(frozen=True)
class _Ask:
    header: bytes
    request_id: str
    answer: asyncio.Future[tuple[bytes, dict[str, str]]]


class Decapsulations:
    def __init__(self, client: KeyServiceClient, recipients: RotatingRecipientKey, *, window_s: float,
                 max_batch: int) -> None:
        if not 0 <= window_s <= 0.1 or max_batch < 1:
            raise ValueError("the decapsulation window is 0 to 100 ms and a batch holds at least one header")
        self._client, self._recipients = client, recipients
        self._window_s, self._max_batch = window_s, max_batch
        self._waiting: dict[str, list[_Ask]] = {}  # by credential, while its drain task runs
        self._drains: set[asyncio.Task[None]] = set()

    async def data_key(self, credential: str, header: bytes, *, request_id: str) -> tuple[bytes, dict[str, str]]:
        """The data key of one envelope header, and the rate-limit headers of the call that fetched it."""
        ask = _Ask(header, request_id, asyncio.get_running_loop().create_future())
        waiting = self._waiting.get(credential)
        if waiting is None:
            waiting = self._waiting[credential] = []
            drain = asyncio.create_task(self._drain(credential, waiting))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        waiting.append(ask)
        return await ask.answer

    async def close(self) -> None:
        for drain in list(self._drains):
            drain.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)

    async def _drain(self, credential: str, waiting: list[_Ask]) -> None:
        """Sends what waits for `credential`, call after call, until nothing does."""
        try:
            await asyncio.sleep(self._window_s)
            while waiting:
                batches = [waiting[i:i + self._max_batch] for i in range(0, len(waiting), self._max_batch)]
                waiting.clear()  # arrivals from now on wait for these calls, then go together
                await asyncio.gather(*(self._send(credential, batch) for batch in batches))
        finally:
            del self._waiting[credential]
            for ask in waiting:  # cancelled (the sidecar stops): nobody is left hanging
                _settle(ask, ApiError(ErrorCode.SERVICE_UNAVAILABLE))

    async def _send(self, credential: str, batch: list[_Ask]) -> None:
        recipient_key = self._recipients.current()  # the answers open with the key they were sealed to
        try:
            outcomes, passed = await self._client.decapsulate(
                credential, [ask.header for ask in batch], request_id=batch[0].request_id,
                recipient_key=recipient_key)
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


def _settle(ask: _Ask, outcome: ApiError | tuple[bytes, dict[str, str]]) -> None:
    if ask.answer.done():  # its caller went away
        return
    if isinstance(outcome, ApiError):
        ask.answer.set_exception(outcome)
    else:
        ask.answer.set_result(outcome)
