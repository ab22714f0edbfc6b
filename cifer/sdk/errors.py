"""The SDK's errors (seed 000 §9.3): one class per §9.1 code, chosen by the body's `error.code`.

A caller catches the class for the case it handles (`RateLimitError`, `NotFoundError`) and
`CiferError` for the rest. The SDK's own failures have their own classes and codes too
(`CiferConnectionError`, `StreamError`, `CircuitOpenError`). The codes and their statuses come from the one table in
`cifer.api.errors`; this module only names a class for each. Nothing here imports aiohttp, so
`from cifer import CiferError` stays cheap.
"""

from __future__ import annotations

import datetime
import email.utils
import json
from collections.abc import Mapping
from typing import Any

from cifer import exceptions
from cifer.api.errors import ErrorCode

CONNECTION_ERROR = "CONNECTION_ERROR"  # no HTTP answer at all: refused, reset, timed out
STREAM_ABORTED = "STREAM_ABORTED"  # a streamed answer cut off before its last chunk
INVALID_RESPONSE = "INVALID_RESPONSE"  # an answer that is not the seed's response body
CIRCUIT_OPEN = "CIRCUIT_OPEN"  # the circuit breaker refused the call without sending it


class CiferError(exceptions.CoreError):
    """Any failure of a CIFER call. `code` is the seed's error code (or one of the SDK's own:
    CONNECTION_ERROR, STREAM_ABORTED, INVALID_RESPONSE); `status` the HTTP status, if any."""

    default_code = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status
        self.details = dict(details or {})
        self.request_id = request_id
        self.retry_after = retry_after
        """Seconds the server asked us to wait (Retry-After), if it said."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class InvalidRequestError(CiferError):
    default_code = ErrorCode.INVALID_REQUEST.name


class InvalidCiferIdError(CiferError):
    default_code = ErrorCode.INVALID_CIFER_ID.name


class InvalidCiphertextError(CiferError):
    default_code = ErrorCode.INVALID_CIPHERTEXT.name


class AuthenticationError(CiferError):
    default_code = ErrorCode.UNAUTHORIZED.name


class PermissionDeniedError(CiferError):
    default_code = ErrorCode.FORBIDDEN.name


class UnauthorizedDecryptError(PermissionDeniedError):
    """The caller may not open this ciphertext; `cifer_id` names the key it was sealed to."""

    default_code = ErrorCode.UNAUTHORIZED_DECRYPT.name

    @property
    def cifer_id(self) -> str | None:
        value = self.details.get("cifer_id")
        return value if isinstance(value, str) else None


class NotFoundError(CiferError):
    default_code = ErrorCode.NOT_FOUND.name


class CiferRevokedError(CiferError):
    default_code = ErrorCode.CIFER_REVOKED.name


class RateLimitError(CiferError):
    """429. `retry_after` is the server's Retry-After (or `details.retry_after`) in seconds."""

    default_code = ErrorCode.RATE_LIMIT_EXCEEDED.name


class InternalError(CiferError):
    default_code = ErrorCode.INTERNAL_ERROR.name


class ServiceUnavailableError(CiferError):
    default_code = ErrorCode.SERVICE_UNAVAILABLE.name


class CiferConnectionError(CiferError, ConnectionError):
    """No answer: the sidecar is not listening, the connection broke, or it timed out."""

    default_code = CONNECTION_ERROR


class StreamError(CiferError):
    """A streamed answer ended without its terminating chunk. The server aborts the connection
    this way when a ciphertext chunk fails authentication mid-stream; the output so far must
    be discarded. (A broken network looks the same from here.)"""

    default_code = STREAM_ABORTED


class CircuitOpenError(CiferError):
    """The circuit breaker is open after repeated outages (`cifer.sdk.breaker`): nothing was
    sent. `retry_after` is the time until it lets a probe call through."""

    default_code = CIRCUIT_OPEN


_CLASSES: tuple[type[CiferError], ...] = (
    InvalidRequestError, InvalidCiferIdError, InvalidCiphertextError, AuthenticationError,
    PermissionDeniedError, UnauthorizedDecryptError, NotFoundError, CiferRevokedError,
    RateLimitError, InternalError, ServiceUnavailableError,
)
ERROR_CLASSES: Mapping[str, type[CiferError]] = {cls.default_code: cls for cls in _CLASSES}
"""The class for each of the seed's §9.1 codes; any other code is a plain `CiferError`."""

# When the body is not the seed's error (a load balancer's 502 page), the status says what it was.
_CODE_BY_STATUS: Mapping[int, str] = {
    **{code.status: code.name for code in reversed(ErrorCode)},  # first code of a status wins
    502: ErrorCode.SERVICE_UNAVAILABLE.name,
    504: ErrorCode.SERVICE_UNAVAILABLE.name,
}


def parse_retry_after(value: str | None, *, now: datetime.datetime | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110 §10.2.3); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - (now or datetime.datetime.now(datetime.UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def error_from_response(status: int, body: bytes, headers: Mapping[str, str]) -> CiferError:
    """The typed error for a non-2xx answer: by `error.code` when the body is the seed's error
    response body, else by the HTTP status alone."""
    code, message, details, request_id = None, None, {}, headers.get("X-Request-ID")
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            code = error["code"]
            message = error.get("message") if isinstance(error.get("message"), str) else None
            details = error.get("details") if isinstance(error.get("details"), dict) else {}
        meta = parsed.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("request_id"), str) and meta["request_id"]:
            request_id = meta["request_id"]
    if code is None:
        code = _CODE_BY_STATUS.get(status, f"HTTP_{status}")
    if message is None:
        known = ErrorCode.__members__.get(code)
        message = known.default_message if known else f"HTTP {status}"
    retry_after = parse_retry_after(headers.get("Retry-After"))
    hinted = details.get("retry_after")
    if retry_after is None and isinstance(hinted, (int, float)) and not isinstance(hinted, bool):
        retry_after = max(0.0, float(hinted))
    cls = ERROR_CLASSES.get(code, CiferError)
    return cls(message, code=code, status=status, details=details, request_id=request_id, retry_after=retry_after)
