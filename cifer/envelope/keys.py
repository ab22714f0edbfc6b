"""The key schedule of envelope version 1: from a KEM shared secret to the payload key.

    wrapping key = HKDF-SHA256(ikm=shared secret, salt="", info=lp("CIFER-v1 wrap") ||
                               lp(suite id u16) || lp(cifer id) || lp(key version u32))
    wrapped key  = AES-256-GCM(wrapping key, nonce=0^12, data key, aad=message header)
    commitment   = HKDF-SHA256(ikm=data key, salt=message id, info=lp("CIFER-v1 commit"))
    payload key  = HKDF-SHA256(ikm=data key, salt=message id, info=lp("CIFER-v1 payload"))

lp(x) is a u16 big-endian length then x: no two contexts can encode to the same bytes.
The wrapped key is AES-256-GCM in every suite; the suite's AEAD seals only the payload.
A zero nonce is safe because every wrapping key comes from a fresh encapsulation and
seals exactly one data key.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cifer.envelope.format import (
    COMMITMENT_BYTES, DATA_KEY_BYTES, MESSAGE_ID_BYTES, Header, KeySlot,
)
from cifer.crypto.suites import Suite
from cifer.exceptions import InvalidCiphertext

_LABEL_WRAP = b"CIFER-v1 wrap"
_LABEL_COMMIT = b"CIFER-v1 commit"
_LABEL_PAYLOAD = b"CIFER-v1 payload"
_ZERO_NONCE = bytes(12)


def _lp(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">H", len(part)) + part for part in parts)


def _hkdf(ikm: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) for one 32-byte output block: PRK = HMAC(salt, IKM), then
    T(1) = HMAC(PRK, info || 0x01). Written out with OpenSSL's one-shot HMAC because it runs
    three times per envelope; tests hold it equal to `cryptography`'s HKDF and Wycheproof's."""
    prk = hmac.digest(salt or bytes(32), ikm, "sha256")  # an absent salt is HashLen zeros
    return hmac.digest(prk, info + b"\x01", "sha256")


def wrapping_key(shared_secret: bytes, *, suite: Suite, cifer_id: str, key_version: int) -> bytes:
    info = _lp(
        _LABEL_WRAP, struct.pack(">H", suite.suite_id), cifer_id.encode("ascii"), struct.pack(">I", key_version)
    )
    return _hkdf(shared_secret, salt=None, info=info)


def commitment(data_key: bytes, message_id: bytes) -> bytes:
    return _hkdf(data_key, salt=message_id, info=_lp(_LABEL_COMMIT))


def new_data_key() -> tuple[bytes, bytes]:
    """A fresh random data key and message id."""
    return os.urandom(DATA_KEY_BYTES), os.urandom(MESSAGE_ID_BYTES)


def seal_slot(
    data_key: bytes, *, suite: Suite, public_key: bytes, cifer_id: str, key_version: int, message_header: bytes,
    unsafe_encapsulation: tuple[bytes, bytes] | None = None,
) -> KeySlot:
    """Encapsulates to `public_key` and seals the data key to it, bound to the message header.

    `unsafe_encapsulation` (shared secret, KEM ciphertext) replaces the encapsulation: for
    known-answer vectors only, since a reused encapsulation reuses the wrapping key.
    """
    shared_secret, kem_ciphertext = unsafe_encapsulation or suite.encapsulate(public_key)
    key = wrapping_key(shared_secret, suite=suite, cifer_id=cifer_id, key_version=key_version)
    wrapped = AESGCM(key).encrypt(_ZERO_NONCE, data_key, message_header)
    return KeySlot(key_version, kem_ciphertext, wrapped)


def open_slot(header: Header, seed: bytes) -> bytes:
    """Decapsulates the key slot with a private seed; returns the checked data key.

    This is the only step that needs a private key: the key service runs it on a header
    alone and hands back the data key, never the seed.
    """
    return open_slot_with(header, header.suite.decapsulator(seed))


def open_slot_with(header: Header, decapsulate: Callable[[bytes], bytes]) -> bytes:
    """`open_slot` with the private key already expanded (`Suite.decapsulator`)."""
    shared_secret = decapsulate(header.slot.kem_ciphertext)
    key = wrapping_key(
        shared_secret, suite=header.suite, cifer_id=header.cifer_id, key_version=header.key_version
    )
    try:
        data_key = AESGCM(key).decrypt(_ZERO_NONCE, header.slot.wrapped_key, header.message_bytes)
    except InvalidTag:
        raise InvalidCiphertext() from None
    payload_key(header, data_key)  # fail here, not later, if the key does not commit
    return data_key


def payload_key(header: Header, data_key: bytes) -> bytes:
    """The payload key, released only if `data_key` matches the header's key commitment."""
    if len(data_key) != DATA_KEY_BYTES or not hmac.compare_digest(
        commitment(data_key, header.message_id), header.commitment
    ):
        raise InvalidCiphertext()
    return _hkdf(data_key, salt=header.message_id, info=_lp(_LABEL_PAYLOAD))


assert COMMITMENT_BYTES == 32  # HKDF above derives exactly 32 bytes for the commitment
