"""Webhook signing secrets at rest: AES-256-GCM under the `webhooks` service key (which exists
at rest only wrapped by the KEK), so the database holds no usable secret.

Layout of `webhooks.encrypted_secret`: nonce (12 random bytes) || ciphertext || tag (16 bytes).
The associated data is the webhook's id (UTF-8): a sealed secret copied onto another webhook's
row does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class InvalidSealedSecret(Exception):
    """The stored secret does not open under this key for this webhook."""


def _aead(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise ValueError(f"the webhooks key must be {KEY_BYTES} bytes")
    return AESGCM(key)


def seal(key: bytes, webhook_id: str, secret: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _aead(key).encrypt(nonce, secret.encode(), webhook_id.encode())


def unseal(key: bytes, webhook_id: str, sealed: bytes) -> str:
    aead = _aead(key)
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise InvalidSealedSecret()
    try:
        return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], webhook_id.encode()).decode()
    except (InvalidTag, UnicodeDecodeError):
        raise InvalidSealedSecret() from None
