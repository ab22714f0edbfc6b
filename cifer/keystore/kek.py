"""The key-encryption key (KEK): what private seeds are wrapped with at rest.

A seed is stored only as AES key wrap with padding (RFC 5649) under a KEK that lives on an
HSM (`pkcs11_kek`) or, for development, in a file (`file_kek`). Both backends give the same
bytes for the same key, so a blob's format never depends on where its KEK lives.

Secrets are a multiple of 8 bytes: SoftHSM 2.6.1 zero-pads other lengths before wrapping, so
it would disagree with RFC 5649 and unwrap to a longer value than was wrapped.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, runtime_checkable

from cifer.exceptions import InvalidWrappedKey

MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 1024
SECRET_BLOCK_BYTES = 8  # secrets are whole 64-bit semiblocks, see the module docstring
WRAP_OVERHEAD_BYTES = 8  # RFC 5649's alternative initial value
MIN_WRAPPED_BYTES = MIN_SECRET_BYTES + WRAP_OVERHEAD_BYTES
MAX_WRAPPED_BYTES = MAX_SECRET_BYTES + WRAP_OVERHEAD_BYTES


@runtime_checkable
class Kek(Protocol):
    """Wraps and unwraps secrets; the key itself is never handed out."""

    @property
    def kek_id(self) -> str:
        """A stable, non-secret name of the KEK, e.g. `file:/etc/cifer/kek.key` or
        `pkcs11:<token label>/<key label>`; nothing in it is derived from key bytes."""
        ...

    def wrap(self, secret: bytes) -> bytes:
        """RFC 5649 of `secret`; ValueError unless 16..1024 bytes, a multiple of 8;
        KeystoreUnavailable if the KEK cannot be used."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """The secret inside `wrapped`; InvalidWrappedKey if it is malformed, tampered with or
        wrapped by another KEK; KeystoreUnavailable if the KEK cannot be used."""
        ...

    def close(self) -> None:
        """Releases the KEK; later calls to wrap or unwrap raise KeystoreUnavailable."""
        ...


class ClosesOnExit:
    """`with kek:` closes the KEK on the way out, whatever happened inside."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _is_secret_length(length: int) -> bool:
    return MIN_SECRET_BYTES <= length <= MAX_SECRET_BYTES and length % SECRET_BLOCK_BYTES == 0


def check_secret(secret: bytes) -> None:
    """Refuses a secret no KEK may wrap: a caller's bug, so ValueError, not a keystore error."""
    if not isinstance(secret, bytes):
        raise TypeError(f"secret must be bytes, not {type(secret).__name__}")
    if not _is_secret_length(len(secret)):
        raise ValueError(
            f"secret must be {MIN_SECRET_BYTES}..{MAX_SECRET_BYTES} bytes and a multiple of "
            f"{SECRET_BLOCK_BYTES}, got {len(secret)}"
        )


def check_wrapped(wrapped: bytes) -> None:
    """Refuses, before any key is touched, a blob that `wrap` cannot have produced."""
    if not isinstance(wrapped, bytes):
        raise TypeError(f"wrapped key must be bytes, not {type(wrapped).__name__}")
    if not _is_secret_length(len(wrapped) - WRAP_OVERHEAD_BYTES):
        raise InvalidWrappedKey("invalid wrapped key")


def check_unwrapped(secret: bytes) -> bytes:
    """Returns `secret` if `wrap` could have produced its blob; a valid RFC 5649 blob of
    another length was not made by us."""
    if not _is_secret_length(len(secret)):
        raise InvalidWrappedKey("invalid wrapped key")
    return secret
