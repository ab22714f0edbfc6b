"""The keystore: private seeds exist at rest only wrapped by a KEK, and unwrapped only inside
an opener (`Keystore.opener`), which lives as long as its holder keeps it: one batch, or the
key service's seed cache, bounded in time and count.

This is the one path from a wrapped seed to a data key. The key service (issue 4) keeps
`StoredKey`s in its database; nothing here knows about SQL or HTTP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cifer.crypto.suites import Suite
from cifer.envelope import keys
from cifer.envelope.format import Header
from cifer.exceptions import InvalidCiphertext, InvalidWrappedKey
from cifer.keystore.kek import Kek


@dataclasses.dataclass(frozen=True, slots=True)
class StoredKey:
    """One key version as stored: the public key in the clear, the seed wrapped."""

    suite: Suite
    public_key: bytes
    wrapped_seed: bytes
    kek_id: str  # which KEK wrapped the seed, so a KEK migration can find what to rewrap


class Keystore:
    def __init__(self, kek: Kek) -> None:
        self._kek = kek

    @property
    def kek_id(self) -> str:
        return self._kek.kek_id

    def generate(self, suite: Suite) -> StoredKey:
        """A new key pair; the seed leaves this call only wrapped."""
        seed = suite.generate_seed()
        return StoredKey(suite, suite.public_key(seed), self._kek.wrap(seed), self._kek.kek_id)

    def opener(self, key: StoredKey) -> Callable[[Header], bytes]:
        """Unwraps `key`'s seed once and returns a function that opens headers sealed to it,
        for a batch; the seed lives as long as that function. Errors as `open_slot`."""
        if key.kek_id != self._kek.kek_id:
            raise InvalidWrappedKey(f"key wrapped by {key.kek_id}, not by {self._kek.kek_id}")
        seed = self._kek.unwrap(key.wrapped_seed)
        if len(seed) != key.suite.seed_bytes:
            raise InvalidWrappedKey("invalid wrapped key")
        decapsulate = key.suite.decapsulator(seed)

        def open_header(header: Header) -> bytes:
            if header.suite.name != key.suite.name:  # the key's KEM; either payload AEAD
                raise InvalidCiphertext()
            return keys.open_slot_with(header, decapsulate)

        return open_header

    def open_slot(self, header: Header, key: StoredKey) -> bytes:
        """The data key of `header`, opened with `key`'s seed.

        InvalidCiphertext if the header is not for this key or fails to open;
        InvalidWrappedKey if the stored seed is damaged or wrapped by another KEK;
        KeystoreUnavailable if the KEK cannot be used. The three never blur.
        """
        if header.suite.name != key.suite.name:
            raise InvalidCiphertext()
        return self.opener(key)(header)
