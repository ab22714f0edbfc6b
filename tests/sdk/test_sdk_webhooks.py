"""Webhook signatures: the SDK's checker accepts exactly what the key service signs."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cifer.webhooks import signing

from cifer.sdk.webhooks import verify_signature

SECRET = "whsec_0123456789abcdef"
BODY = signing.encode_payload({"id": "evt_1", "type": "cifer.created", "created": "2026-01-08T10:30:00Z",
                               "data": {"cifer_id": "cif_abcdefghijkl"}})
NOW = 1_767_868_200


def seed_verify_webhook(payload: bytes, signature: str, secret: str) -> bool:
    """Seed 000 §7.3, verbatim."""
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)


def delivery_headers(timestamp: int = NOW) -> dict[str, str]:
    return signing.headers(SECRET, BODY, event_id="evt_1", timestamp=timestamp)


def test_the_seeds_signature_header_verifies_as_the_seed_does():
    header = delivery_headers()["X-Cifer-Signature"]
    assert verify_signature(BODY, header, SECRET) and seed_verify_webhook(BODY, header, SECRET)


def test_the_timestamped_header_verifies_within_the_tolerance():
    header = delivery_headers()["X-Cifer-Signature-V2"]
    assert verify_signature(BODY, header, SECRET, now=NOW + 299)
    assert not verify_signature(BODY, header, SECRET, now=NOW + 301)
    assert verify_signature(BODY, header, SECRET, now=NOW + 900, tolerance_s=1000)


@pytest.mark.parametrize("header_name", ["X-Cifer-Signature", "X-Cifer-Signature-V2"])
def test_another_body_or_secret_fails(header_name):
    header = delivery_headers()[header_name]
    assert not verify_signature(BODY + b" ", header, SECRET, now=NOW)
    assert not verify_signature(BODY, header, SECRET + "x", now=NOW)


def test_one_of_several_v1_entries_may_match_during_a_secret_change():
    good = delivery_headers()["X-Cifer-Signature-V2"]
    timestamp, v1 = good.split(",")
    assert verify_signature(BODY, f"{timestamp},v1={'0' * 64},{v1}", SECRET, now=NOW)


@pytest.mark.parametrize("header", ["", "sha256=", "sha256=zz", "t=1", "v1=ab", "t=x,v1=ab", "t=1,t=2,v1=ab",
                                    "garbage", "t=1767868200,v1=é", "sha256=é"])
def test_malformed_headers_are_false_not_errors(header):
    assert verify_signature(BODY, header, SECRET, now=NOW) is False
