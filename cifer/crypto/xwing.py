"""X-Wing, the hybrid KEM of draft-connolly-cfrg-xwing-kem, from `cryptography` primitives.

The decapsulation key is a 32-byte seed; SHAKE256(seed, 96) expands to the ML-KEM-768
seed d || z and the X25519 secret. The shared secret is
SHA3-256(ss_M || ss_X || ct_X || pk_X || label), the label being the six bytes `\\.//^\\`.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

SEED_BYTES = 32
_MLKEM_PUBLIC_BYTES = 1184
_MLKEM_CIPHERTEXT_BYTES = 1088
_X25519_BYTES = 32
PUBLIC_KEY_BYTES = _MLKEM_PUBLIC_BYTES + _X25519_BYTES
CIPHERTEXT_BYTES = _MLKEM_CIPHERTEXT_BYTES + _X25519_BYTES
_LABEL = b"\\.//^\\"
# id-XWing, 1.3.6.1.4.1.62253.25722 (the draft's OID; the key has no parameters)
_OID = bytes.fromhex("2b0601040183e62d81c87a")


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


# SubjectPublicKeyInfo = SEQUENCE { SEQUENCE { id-XWing }, BIT STRING (0 unused bits) pk }:
# every X-Wing key has the same length, so everything before the key bytes is fixed.
SPKI_PREFIX = _der(0x30, _der(0x30, _der(0x06, _OID)) + _der(0x03, bytes(1 + PUBLIC_KEY_BYTES)))[:-PUBLIC_KEY_BYTES]


def _expand(seed: bytes) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
    expanded = hashlib.shake_256(seed).digest(96)
    return (
        mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        x25519.X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


def _combine(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + _LABEL).digest()


def public_key(seed: bytes) -> bytes:
    sk_m, sk_x = _expand(seed)
    return sk_m.public_key().public_bytes_raw() + sk_x.public_key().public_bytes_raw()


def encapsulate(public_key: bytes, *, unsafe_x25519_ephemeral: bytes | None = None) -> tuple[bytes, bytes]:
    """Returns (shared_secret, ciphertext). The ephemeral is for known-answer tests only."""
    pk_m = mlkem.MLKEM768PublicKey.from_public_bytes(public_key[:_MLKEM_PUBLIC_BYTES])
    pk_x_bytes = public_key[_MLKEM_PUBLIC_BYTES:]
    pk_x = x25519.X25519PublicKey.from_public_bytes(pk_x_bytes)
    ephemeral = x25519.X25519PrivateKey.from_private_bytes(
        unsafe_x25519_ephemeral if unsafe_x25519_ephemeral is not None else os.urandom(_X25519_BYTES)
    )
    ct_x = ephemeral.public_key().public_bytes_raw()
    ss_x = ephemeral.exchange(pk_x)
    ss_m, ct_m = pk_m.encapsulate()
    return _combine(ss_m, ss_x, ct_x, pk_x_bytes), ct_m + ct_x


def decapsulator(seed: bytes):
    """The expanded key (done once) as a function from ciphertext to shared secret."""
    sk_m, sk_x = _expand(seed)
    pk_x = sk_x.public_key().public_bytes_raw()

    def decapsulate(ciphertext: bytes) -> bytes:
        ct_m, ct_x = ciphertext[:_MLKEM_CIPHERTEXT_BYTES], ciphertext[_MLKEM_CIPHERTEXT_BYTES:]
        ss_m = sk_m.decapsulate(ct_m)
        ss_x = sk_x.exchange(x25519.X25519PublicKey.from_public_bytes(ct_x))
        return _combine(ss_m, ss_x, ct_x, pk_x)

    return decapsulate


def decapsulate(seed: bytes, ciphertext: bytes) -> bytes:
    return decapsulator(seed)(ciphertext)
