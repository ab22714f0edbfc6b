"""API keys in the seed's format (§3.2): `sk_test_` or `sk_live_`, 64 characters in all.

Only a hash is ever stored; a key is compared by its hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

API_KEY_LENGTH = 64
API_KEY_RE = re.compile(r"sk_(test|live)_[A-Za-z0-9]{56}")
_ALPHABET = string.ascii_letters + string.digits  # 56 chars of 62 symbols: 333 bits


def generate_api_key(*, live: bool) -> str:
    prefix = "sk_live_" if live else "sk_test_"
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(API_KEY_LENGTH - len(prefix)))


def is_well_formed(key: str) -> bool:
    return bool(API_KEY_RE.fullmatch(key))


def hash_api_key(key: str) -> bytes:
    """SHA-256 suffices: keys carry 333 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode("ascii")).digest()


def matches(key: str, stored_hash: bytes) -> bool:
    return is_well_formed(key) and hmac.compare_digest(hash_api_key(key), stored_hash)
