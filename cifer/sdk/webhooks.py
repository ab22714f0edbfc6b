"""Checking that a webhook delivery comes from CIFER (seed §7.3), before parsing its body.

Two signature headers arrive on every delivery:

- `X-Cifer-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, the seed's. It signs the body
  only, so a captured delivery can be replayed as it is.
- `X-Cifer-Signature-V2: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." || body)>`. The
  timestamp is signed too: reject deliveries older than a tolerance, and deduplicate on
  `X-Cifer-Event-Id`, to be safe from replays.

`verify_signature` takes either header's value. The secret is the string given when the
webhook was registered, used as its UTF-8 bytes. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Cifer-Signature"
SIGNATURE_V2_HEADER = "X-Cifer-Signature-V2"
EVENT_ID_HEADER = "X-Cifer-Event-Id"
DEFAULT_TOLERANCE_S = 300.0


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _equal(expected: str, given: str) -> bool:
    return given.isascii() and hmac.compare_digest(expected.encode(), given.encode())


def verify_signature(payload: bytes, signature_header: str, secret: str, *,
                     tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> bool:
    """True if `signature_header` signs `payload` (the raw body bytes) under `secret`.

    A `sha256=...` value is checked as seed §7.3 does. A `t=...,v1=...` value must also carry a
    timestamp within `tolerance_s` of `now` (unix seconds; the current time if None); several
    `v1=` entries are accepted, one per secret while a secret is being changed. Anything
    malformed is False, never an exception."""
    if not isinstance(signature_header, str) or not isinstance(payload, (bytes, bytearray, memoryview)):
        return False
    payload = bytes(payload)
    header = signature_header.strip()
    if header.startswith("sha256="):
        return _equal("sha256=" + _hmac_hex(secret, payload), header)
    return _verify_timestamped(payload, header, secret, tolerance_s=tolerance_s, now=now)


def _verify_timestamped(payload: bytes, header: str, secret: str, *, tolerance_s: float, now: float | None) -> bool:
    timestamp, candidates = None, []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                return False
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = _hmac_hex(secret, str(timestamp).encode() + b"." + payload)
    return any(_equal(expected, candidate) for candidate in candidates)
