"""Golden vectors: fixed keys and randomness give exactly the committed envelope bytes,
and the committed bytes decrypt to the committed plaintext. The format cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cifer.crypto.suites import suite_by_name
from cifer.envelope import FixedRandomness, Keyring, Recipient, decrypt, encrypt
from cifer.envelope.format import parse_header

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "envelope-v1.json").read_text())["vectors"]


def test_the_vector_file_covers_every_suite():
    assert {v["suite"] for v in VECTORS} == {"ML-KEM-768", "ML-KEM-1024", "X-Wing"}


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_fixed_inputs_encrypt_to_the_committed_bytes(v):
    suite = suite_by_name(v["suite"])
    seed, kem_ciphertext = bytes.fromhex(v["seed"]), bytes.fromhex(v["kem_ciphertext"])
    recipient = Recipient(v["cifer_id"], v["key_version"], suite, suite.public_key(seed))
    randomness = FixedRandomness(
        bytes.fromhex(v["data_key"]), bytes.fromhex(v["message_id"]),
        suite.decapsulate(seed, kem_ciphertext), kem_ciphertext,
    )
    envelope = encrypt(
        recipient, bytes.fromhex(v["plaintext"]), metadata=v["metadata"], chunk_size=v["chunk_size"],
        unsafe_randomness=randomness,
    )
    assert envelope.hex() == v["envelope"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_committed_bytes_decrypt_to_the_committed_plaintext(v):
    suite = suite_by_name(v["suite"])
    keyring = Keyring()
    keyring.add(v["cifer_id"], v["key_version"], suite, bytes.fromhex(v["seed"]))
    envelope = bytes.fromhex(v["envelope"])
    assert decrypt(envelope, keyring).hex() == v["plaintext"]
    header, length = parse_header(envelope)
    assert header.to_bytes() == envelope[:length]
    assert dict(header.metadata) == v["metadata"]
