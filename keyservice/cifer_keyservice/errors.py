"""The key service's domain errors: a flat list of small classes, as the services raise them.

An error says what went wrong and which thing it concerns (`details`), and carries the seed's
name for it (`code`, seed 000 §9.1: audit records and `decrypt.failed` events spell failures so
too); it knows nothing of HTTP. `wire_errors` renders it. A `message` given here is the sentence
the client reads; None leaves the code's own.
"""

from __future__ import annotations

from typing import Any


class KeyServiceError(Exception):
    """Base of every error a key-service domain service raises on purpose."""
    code = "INTERNAL_ERROR"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or type(self).__name__)
        self.message = message
        self.details = details


class InvalidRequest(KeyServiceError):
    """A request the domain cannot carry out as asked: names the offending `field`."""
    code = "INVALID_REQUEST"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.field = field


class Unconfirmed(KeyServiceError):
    """An irreversible change (a revocation) asked for without its explicit confirmation."""
    code = "INVALID_REQUEST"


class StaleConfirmation(KeyServiceError):
    """A confirmation made for another key version than the current one: the key changed since
    the caller read it."""
    code = "INVALID_REQUEST"


class NotFound(KeyServiceError):
    """No such thing, or none the caller may know of (so ids cannot be probed)."""
    code = "NOT_FOUND"


class Forbidden(KeyServiceError):
    """The caller lacks a scope or the ownership the change needs, or the policy forbids it."""
    code = "FORBIDDEN"


class DecryptDenied(KeyServiceError):
    """The caller is not among those a cifer's policy lets decrypt."""
    code = "UNAUTHORIZED_DECRYPT"


class Revoked(KeyServiceError):
    """The cifer was revoked: nothing can be done with it any more."""
    code = "CIFER_REVOKED"


class Expired(KeyServiceError):
    """The cifer's `expires_at` has passed: it still decrypts, but nothing more is sealed to it."""
    code = "FORBIDDEN"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or "this CIFER has expired: it still decrypts but no longer encrypts", **details)


class UnopenableHeader(KeyServiceError):
    """An envelope header that does not parse, names a version that cannot open it (unknown or
    retired), or does not open under its key."""
    code = "INVALID_CIPHERTEXT"


class StoredKeyDamaged(KeyServiceError):
    """A stored key does not unwrap under the KEK: the fault is ours, not the caller's."""
    code = "INTERNAL_ERROR"


class AuditUnavailable(KeyServiceError):
    """The audit log cannot be written, so the operation it would record does not happen."""
    code = "SERVICE_UNAVAILABLE"
