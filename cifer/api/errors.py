"""The error codes of seed 000 §9.1, in one table, and the exception that carries one."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

DOCUMENTATION_URL = "https://docs.cifer.io/errors/"
"""Each code's page is this followed by the code (seed 000 §9.2's `documentation_url`); their
source is docs/errors.md, one section per code, headed by the code."""


class ErrorCode(enum.Enum):
    # value: (HTTP status, the message a client sees when the raiser gives none)
    INVALID_REQUEST = (400, "Malformed request")
    INVALID_CIFER_ID = (400, "Invalid CIFER ID format")
    INVALID_CIPHERTEXT = (400, "Malformed ciphertext")
    UNAUTHORIZED = (401, "Invalid or missing credentials")
    FORBIDDEN = (403, "Insufficient permissions")
    UNAUTHORIZED_DECRYPT = (403, "Not authorized to decrypt")
    NOT_FOUND = (404, "Resource not found")
    METHOD_NOT_ALLOWED = (405, "Method not allowed")  # HTTP's own; the seed lists no code for it
    PAYLOAD_TOO_LARGE = (413, "Request body too large")  # HTTP's own, for bounded bodies
    UNSUPPORTED_MEDIA_TYPE = (415, "Unsupported media type")  # HTTP's own: bodies are JSON (or binary where served)
    CIFER_REVOKED = (410, "CIFER has been revoked")
    RATE_LIMIT_EXCEEDED = (429, "Rate limit exceeded")
    INTERNAL_ERROR = (500, "Internal server error")
    SERVICE_UNAVAILABLE = (503, "Service temporarily unavailable")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def default_message(self) -> str:
        return self.value[1]

    @property
    def documentation_url(self) -> str:
        return DOCUMENTATION_URL + self.name


class ApiError(Exception):
    """Raised by handlers and services; rendered as the seed's error body by the middleware."""

    def __init__(self, code: ErrorCode, message: str | None = None, details: Mapping[str, Any] | None = None, *,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message or code.default_message)
        self.code = code
        self.message = message or code.default_message
        self.details = dict(details or {})
        self.headers = dict(headers or {})  # sent with the error: Retry-After, X-RateLimit-*
