"""`verifyWebhookSignature` (seed §7.3) against the signatures the key service really sends."""

from __future__ import annotations

import json
import time

from cifer.webhooks.signing import signature, signature_v2
from sdk_typescript.node import run_js

SECRET = "whsec_typescript_sdk_test_secret"
BODY = json.dumps({"id": "evt_1", "type": "cifer.created", "data": {"cifer_id": "cif_abcdefghijkl"}}).encode()


def verify(cases: list[tuple[bytes, str, str]], now: float | None = None) -> list[bool]:
    rows = [[body.hex(), header, secret] for body, header, secret in cases]
    options = "{}" if now is None else json.dumps({"now": now})
    return run_js(f"out({json.dumps(rows)}.map(([b, h, s]) => sdk.verifyWebhookSignature(fromHex(b), h, s, {options})));")


def test_the_seeds_signature_verifies_and_a_changed_body_or_secret_does_not(ts_sdk):
    header = signature(SECRET, BODY)
    assert header.startswith("sha256=")
    assert verify([(BODY, header, SECRET), (BODY + b" ", header, SECRET), (BODY, header, SECRET + "x"),
                   (BODY, header.upper(), SECRET), (BODY, "sha256=", SECRET), (BODY, "", SECRET)]) == [
        True, False, False, False, False, False]


def test_the_timestamped_signature_verifies_within_the_tolerance_only(ts_sdk):
    now = int(time.time())
    fresh = signature_v2(SECRET, BODY, timestamp=now)
    old = signature_v2(SECRET, BODY, timestamp=now - 301)
    rotated = f"{fresh},v1={'0' * 64}"
    assert verify([(BODY, fresh, SECRET), (BODY, old, SECRET), (BODY, rotated, SECRET),
                   (BODY, fresh.replace(f"t={now}", f"t={now + 1}"), SECRET), (BODY, "t=1,v1", SECRET),
                   (BODY, f"t={now}", SECRET)], now=now) == [True, False, True, False, False, False]


def test_a_string_body_is_verified_as_its_utf8_bytes(ts_sdk):
    body = '{"name":"ü"}'
    header = signature(SECRET, body.encode())
    assert run_js(f"out(sdk.verifyWebhookSignature({json.dumps(body)}, {json.dumps(header)}, {json.dumps(SECRET)}));") is True
