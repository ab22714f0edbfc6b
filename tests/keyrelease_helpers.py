"""Key release for tests that call /v1/decapsulate themselves, as a sidecar does: one recipient key
pair for the test process, the request body that names it, and the opening of a sealed data key."""

from __future__ import annotations

import base64

from cifer.keyrelease import X25519, RecipientKey

RECIPIENT_KEY = RecipientKey.generate(X25519, now=0.0)


def decap_body(headers: list, *, key: RecipientKey = RECIPIENT_KEY) -> dict:
    """The JSON body of /v1/decapsulate for `headers` (base64 strings, or anything a test wants to send)."""
    return {"headers": headers, "recipient": key.recipient.to_field()}


def data_key_of(result: dict, header: bytes | str, *, key: RecipientKey = RECIPIENT_KEY) -> bytes:
    """The data key of one successful result, opened for `header` (its bytes or its base64)."""
    raw = base64.b64decode(header) if isinstance(header, str) else header
    return key.open(result["sealed_data_key"], raw)
