"""What a webhook receiver checks: the body bytes and the signature headers of every delivery.

Body: the seed's §7.2 event (`id`, `type`, `created`, `data`, in that order) as compact UTF-8
JSON, sent as `application/json`; those exact bytes are signed, so a receiver verifies the raw
body before parsing it. Headers:

- `X-Cifer-Signature: sha256=<hex HMAC-SHA256(secret, body)>` — seed §7.3; its
  `verify_webhook(body, header, secret)` accepts it. It covers the body only, so a captured
  delivery can be replayed as is.
- `X-Cifer-Timestamp: <unix seconds>` and `X-Cifer-Event-Id: evt_...` — when it was sent, and
  which event it is (retries of one event carry the same id: deduplicate on it).
- `X-Cifer-Signature-V2: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." || body)>` —
  Stripe's scheme: the timestamp is signed too. A receiver that wants replay protection
  verifies this header with `cifer.sdk.webhooks.verify_signature` (or its equivalent), rejects timestamps older than
  its tolerance (default 300 s), and remembers the event ids it has processed.

The secret is the string given at `POST /v1/webhooks`, used as its UTF-8 bytes (as §7.3 does).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

SIGNATURE_HEADER = "X-Cifer-Signature"
SIGNATURE_V2_HEADER = "X-Cifer-Signature-V2"
TIMESTAMP_HEADER = "X-Cifer-Timestamp"
EVENT_ID_HEADER = "X-Cifer-Event-Id"
DEFAULT_TOLERANCE_S = 300
PAYLOAD_FIELDS = ("id", "type", "created", "data")  # seed §7.2, in its order


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The body bytes of an event's deliveries: the same bytes on every attempt."""
    return json.dumps({field: payload[field] for field in PAYLOAD_FIELDS},
                      separators=(",", ":"), ensure_ascii=False).encode()


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes) -> str:
    """`X-Cifer-Signature`, exactly what seed §7.3's `verify_webhook` recomputes."""
    return "sha256=" + _hmac_hex(secret, body)


def signature_v2(secret: str, body: bytes, *, timestamp: int) -> str:
    return f"t={timestamp},v1={_hmac_hex(secret, str(timestamp).encode() + b'.' + body)}"


def headers(secret: str, body: bytes, *, event_id: str, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, body),
        SIGNATURE_V2_HEADER: signature_v2(secret, body, timestamp=timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_ID_HEADER: event_id,
    }
