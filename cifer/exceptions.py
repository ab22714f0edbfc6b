"""The core's exceptions: a flat list of small classes.

Recipes collapse failures (every envelope problem is one `InvalidCiphertext`);
the keystore keeps "the HSM cannot work" apart from "this wrapped key is bad",
so an outage is never mistaken for tampering, and neither for the other.
"""


class CiferError(Exception):
    """Base of every error the core raises on purpose."""


class InvalidCiphertext(CiferError):
    """The envelope is malformed, tampered with, truncated or not ours to open."""

    def __init__(self, message: str = "invalid ciphertext") -> None:
        super().__init__(message)


class InvalidKey(CiferError):
    """A public key or private seed has the wrong length or is not canonical."""


class KeystoreUnavailable(CiferError):
    """The key-encryption key cannot be used: HSM library or token missing, wrong PIN,
    unsafe key file. Retrying may help; the data is not at fault."""


class InvalidWrappedKey(CiferError):
    """A wrapped private seed failed to unwrap: tampered, truncated or wrapped by another KEK."""
