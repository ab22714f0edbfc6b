"""A private event loop in a daemon thread, so blocking code can drive async code.

`CiferClient` submits each call of its `AsyncCiferClient` here and waits for the result; async
iterators become ordinary iterators one `__anext__` at a time. The caller's own thread never
needs (or disturbs) an event loop, so the sync client also works inside a program that runs
one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


class LoopThread:
    def __init__(self, name: str = "cifer-sdk-loop") -> None:
        self._stopped = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for it. Interrupted (Ctrl-C), it is cancelled."""
        if self._stopped:
            coro.close()
            raise RuntimeError("this CIFER client is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a CiferClient call cannot be made from its own event loop")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # a no-op when the coroutine itself raised
            raise

    def iterate(self, iterable: AsyncIterable[T]) -> Iterator[T]:
        """The items of an async iterable, each fetched on the loop. Leaving the loop early
        closes the async iterator there, so its connection is released."""
        iterator = aiter(iterable)

        async def step() -> Any:
            try:
                return await anext(iterator)
            except StopAsyncIteration:
                return _DONE

        async def close() -> None:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

        try:
            while (item := self.run(step())) is not _DONE:
                yield item
        finally:
            if not self._stopped:
                self.run(close())

    def stop(self) -> None:
        """Stop the loop and join the thread; later calls raise."""
        if self._stopped:
            return
        self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:  # else the loop stops after this callback
            self._thread.join()
            self._loop.close()
