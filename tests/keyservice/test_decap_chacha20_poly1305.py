"""ChaCha20-Poly1305 envelopes through the key service: a cifer's key pair is a KEM key, so the
service opens envelopes of either payload AEAD (it matches the header's KEM to the cifer's), and
a rewrap keeps the AEAD the message was sealed with."""

from __future__ import annotations

import base64
import dataclasses
import os

import pytest

from cifer.crypto.suites import CHACHA20_POLY1305, suite_by_name
from cifer.envelope import decrypt, encrypt
from cifer.envelope.format import parse_header
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, opener_from, recipient


async def chacha_recipient(keyservice, cifer_id):
    """The cifer's published key, sealing with ChaCha20-Poly1305 (the sender's choice)."""
    published = await recipient(keyservice, cifer_id)
    assert published.suite.aead == "AES-256-GCM"  # the key service speaks of KEMs only
    return dataclasses.replace(published, suite=suite_by_name(published.suite.name, CHACHA20_POLY1305))


async def decapsulate(keyservice, creds, envelope: bytes, *, expect: int = 200):
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(envelope))]),
                                    headers=creds, expect=expect)
    return body


@pytest.mark.parametrize("algorithm", ["ML-KEM-768", "ML-KEM-1024", "X-Wing"])
async def test_a_chacha20_poly1305_envelope_of_a_cifer_decapsulates_and_decrypts(keyservice, algorithm):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, algorithm=algorithm)
    plaintext = os.urandom(70_000)
    envelope = encrypt(await chacha_recipient(keyservice, cid), plaintext)
    assert parse_header(envelope)[0].suite is suite_by_name(algorithm, CHACHA20_POLY1305)
    body = await decapsulate(keyservice, alice, envelope)
    result = body["data"]["results"][0]
    assert result["success"] is True, result
    assert decrypt(envelope, opener_from([result])) == plaintext


async def test_the_suite_byte_swapped_to_the_other_aead_is_refused(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    for sender in (await recipient(keyservice, cid), await chacha_recipient(keyservice, cid)):
        envelope = encrypt(sender, b"x")
        swapped = envelope[:6] + bytes([envelope[6] ^ 1]) + envelope[7:]  # 00 01 <-> 01 01
        body = await decapsulate(keyservice, alice, swapped, expect=400)
        assert body["error"]["code"] == "INVALID_CIPHERTEXT"


async def test_a_rewrap_of_a_chacha20_poly1305_envelope_stays_chacha20_poly1305(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    plaintext = os.urandom(100_000)
    old = encrypt(await chacha_recipient(keyservice, cid), plaintext)
    await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={"re_encryption_window_days": 30},
                          headers=alice, expect=200)
    _, rewrapped = await keyservice.call("POST", "/v1/rewrap", json={"header": b64(header_of(old))},
                                         headers=alice, expect=200)
    assert (rewrapped["data"]["key_version"], rewrapped["data"]["previous_key_version"]) == (2, 1)
    new = base64.b64decode(rewrapped["data"]["header"]) + old[len(header_of(old)):]
    header, _ = parse_header(new)
    assert (header.suite.suite_id, header.key_version) == (0x0101, 2)
    assert header.message_bytes == parse_header(old)[0].message_bytes
    result = (await decapsulate(keyservice, alice, new))["data"]["results"][0]
    assert result["key_version"] == 2
    assert decrypt(new, opener_from([result])) == plaintext
