"""The operator's calls to the key service: the SDK's client with the operator's own identity,
and one rule for what a failed call means to kopf.

A failure that may heal (no answer, 5xx, 429, our credential refused) is `kopf.TemporaryError`
with a growing delay, so kopf retries the handler; a refusal of the request itself (400, 403, 404,
409, 410) is `Refused`, which the handlers turn into a `Failed` phase with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import kopf

from cifer.sdk import AsyncCiferClient
from cifer.sdk.errors import (
    AuthenticationError, CiferConnectionError, CiferError, InternalError, RateLimitError, ServiceUnavailableError,
)
from cifer_operator.conditions import Conditions
from cifer_operator.settings import OperatorSettings

T = TypeVar("T")
MAY_HEAL = (CiferConnectionError, ServiceUnavailableError, InternalError, RateLimitError, AuthenticationError)


class Refused(Exception):
    """The key service refused the request itself; retrying the same request cannot help."""

    def __init__(self, error: CiferError) -> None:
        super().__init__(error.message)
        self.code = error.code
        self.message = error.message


def bearer(settings: OperatorSettings) -> Callable[[], str | None]:
    """The credential for each call: the token file reread (the kubelet rotates it), else the key."""
    def current() -> str | None:
        if settings.token_file is not None:
            try:
                token = Path(settings.token_file).read_text().strip()
            except OSError:
                token = ""
            if token:
                return token
        return settings.api_key
    return current


def connect(settings: OperatorSettings) -> AsyncCiferClient:
    # No circuit breaker: kopf's retries with this module's backoff are the operator's own, and a
    # breaker's pause would turn a key service that came back into a refusal (a Failed key).
    return AsyncCiferClient(bearer(settings), base_url=settings.keyservice_url, max_retries=1,
                            timeout_s=settings.keyservice_timeout_s, ca_file=settings.keyservice_ca,
                            circuit_breaker=False)


def idempotency_key(*parts: str) -> str:
    """One key per logical request (a resource's uid and what it asks), the same on every retry
    and after a restart, so a request the key service already did is answered, not repeated."""
    return "op_" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def retry_delay(settings: OperatorSettings, retry: int) -> float:
    return min(settings.retry_delay_s * 2 ** min(retry, 16), settings.max_retry_delay_s)


async def call(awaitable: Awaitable[T], settings: OperatorSettings, retry: int) -> T:
    """The call's result; `kopf.TemporaryError` when it may heal, `Refused` when it cannot."""
    try:
        return await awaitable
    except MAY_HEAL as exc:
        delay = retry_delay(settings, retry)
        if isinstance(exc, RateLimitError) and exc.retry_after:
            delay = max(delay, exc.retry_after)
        raise kopf.TemporaryError(f"key service: {exc.code}: {exc.message}", delay=delay) from None
    except CiferError as exc:
        raise Refused(exc) from None


def failed(body: kopf.Body, patch: kopf.Patch, conditions: Conditions, refused: Refused,
           generation: int | None) -> kopf.PermanentError:
    """Write `phase: Failed` with the key service's reason, say so in an Event, and return the
    error that tells kopf not to retry until the resource changes."""
    patch.status.update(phase="Failed", observedGeneration=generation, conditions=conditions.set(
        "Ready", False, "KeyServiceRefused", f"{refused.code}: {refused.message}").items)
    kopf.warn(body, reason="Failed", message=f"the key service refused: {refused.code}: {refused.message}")
    return kopf.PermanentError(f"the key service refused: {refused.code}")
