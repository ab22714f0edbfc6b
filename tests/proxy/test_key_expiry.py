"""The sidecar's own refusal of an expired key, by its clock (injected here): a public key or a
seed-001 key lookup it holds stops serving encryption at the key's expiry, whatever its TTL."""

from __future__ import annotations

import base64
import datetime

import pytest
from prometheus_client import CollectorRegistry, Counter

from cifer.api.errors import ApiError, ErrorCode
from cifer.crypto.suites import ML_KEM_768
from cifer_proxy.keycache import KeyViews, PublicKeys

EXPIRY = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
CIFER_ID = "cif_" + "a" * 24


def public_key() -> dict:
    raw = ML_KEM_768.public_key(ML_KEM_768.generate_seed())
    return {"cifer_id": CIFER_ID, "key_version": 1, "algorithm": "ML-KEM-768", "aead": "ChaCha20-Poly1305",
            "encapsulation_key": base64.b64encode(ML_KEM_768.public_key_der(raw)).decode(),
            "expires_at": "2027-01-01T00:00:00Z"}


async def test_a_held_public_key_is_refused_from_its_expiry_on():
    fetches = []

    async def fetch(cifer_id):
        fetches.append(cifer_id)
        return public_key()

    keys = PublicKeys(fetch, ttl_s=3600, size=10,
                      lookups=Counter("lookups", "", ["outcome"], registry=CollectorRegistry()))
    keys.now = lambda: EXPIRY - datetime.timedelta(seconds=1)
    recipient = await keys.recipient(CIFER_ID)
    assert recipient.suite.aead == "ChaCha20-Poly1305" and recipient.suite.name == "ML-KEM-768"
    keys.now = lambda: EXPIRY
    with pytest.raises(ApiError) as refused:
        await keys.recipient(CIFER_ID)
    assert refused.value.code is ErrorCode.FORBIDDEN and refused.value.details["expired_at"] == "2027-01-01T00:00:00Z"
    assert fetches == [CIFER_ID]  # refused from what it held, at the instant


async def test_a_held_key_lookup_past_its_expiry_is_asked_again():
    answers = [[{"keyId": CIFER_ID, "status": "active", "expiresAt": "2027-01-01T00:00:00Z"}],
               [{"keyId": CIFER_ID, "status": "expired", "expiresAt": "2027-01-01T00:00:00Z"}]]

    async def fetch():
        return answers.pop(0)

    views = KeyViews(ttl_s=3600, size=10)
    views.now = lambda: EXPIRY - datetime.timedelta(seconds=1)
    assert (await views.find(("u", "health-data"), fetch))[0]["status"] == "active"
    assert (await views.find(("u", "health-data"), fetch))[0]["status"] == "active"  # held
    views.now = lambda: EXPIRY
    assert (await views.find(("u", "health-data"), fetch))[0]["status"] == "expired"  # asked again
    assert answers == []
