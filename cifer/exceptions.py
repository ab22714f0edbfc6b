"""The core's exceptions: a flat list of small classes.

Recipes collapse failures (every envelope problem is one `InvalidCiphertext`);
the keystore keeps "the HSM cannot work" apart from "this wrapped key is bad",
so an outage is never mistaken for tampering, and neither for the other.
"""


class CoreError(Exception):
    """Base of every error the core raises on purpose (the SDK's `CiferError`, the seed's name, is another
    layer's and derives from it)."""


class CannotListen(CoreError):
    """A server's address is taken (or not ours); the message names it."""


class InvalidCiphertext(CoreError):
    """The envelope is malformed, tampered with, truncated or not ours to open."""

    def __init__(self, message: str = "invalid ciphertext") -> None:
        super().__init__(message)


class InvalidKey(CoreError):
    """A public key or private seed has the wrong length or is not canonical."""


class KeystoreUnavailable(CoreError):
    """The key-encryption key cannot be used: HSM library or token missing, wrong PIN,
    unsafe key file. Retrying may help; the data is not at fault."""


class InvalidWrappedKey(CoreError):
    """A wrapped private seed failed to unwrap: tampered, truncated or wrapped by another KEK."""
