"""Golden vectors: fixed keys and randomness give exactly the committed envelope bytes,
and the committed bytes decrypt to the committed plaintext. The format cannot drift.
One file per payload AEAD; the AES-256-GCM file predates the others and has no "aead" field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cifer.crypto.suites import AEADS, AES_256_GCM, CHACHA20_POLY1305, suite_by_name
from cifer.envelope import FixedRandomness, Keyring, Recipient, decrypt, encrypt
from cifer.envelope.format import parse_header

FILES = {AES_256_GCM: "envelope-v1.json", CHACHA20_POLY1305: "envelope-v1-chacha20-poly1305.json"}
BY_AEAD = {
    aead: json.loads((Path(__file__).parents[1] / "vectors" / name).read_text())["vectors"]
    for aead, name in FILES.items()
}
VECTORS = [v for vectors in BY_AEAD.values() for v in vectors]


def suite_of(v):
    return suite_by_name(v["suite"], v.get("aead", AES_256_GCM))


def test_every_aead_has_a_vector_file():
    assert set(FILES) == set(AEADS)


@pytest.mark.parametrize("aead", AEADS)
def test_each_vector_file_covers_every_kem_with_its_aead(aead):
    vectors = BY_AEAD[aead]
    assert {v["suite"] for v in vectors} == {"ML-KEM-768", "ML-KEM-1024", "X-Wing"}
    assert {v.get("aead", AES_256_GCM) for v in vectors} == {aead}
    assert {bytes.fromhex(v["envelope"])[6] for v in vectors} == {AEADS.index(aead)}  # the suite id's high byte


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_fixed_inputs_encrypt_to_the_committed_bytes(v):
    suite = suite_of(v)
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
    suite = suite_of(v)
    keyring = Keyring()
    keyring.add(v["cifer_id"], v["key_version"], suite, bytes.fromhex(v["seed"]))
    envelope = bytes.fromhex(v["envelope"])
    assert decrypt(envelope, keyring).hex() == v["plaintext"]
    header, length = parse_header(envelope)
    assert header.suite is suite
    assert header.to_bytes() == envelope[:length]
    assert dict(header.metadata) == v["metadata"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_a_key_of_the_kem_opens_either_aead(v):
    """A key pair is a KEM key: added under the KEM's default suite, it opens the vector."""
    keyring = Keyring()
    keyring.add(v["cifer_id"], v["key_version"], suite_by_name(v["suite"]), bytes.fromhex(v["seed"]))
    assert decrypt(bytes.fromhex(v["envelope"]), keyring).hex() == v["plaintext"]


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["name"])
def test_the_payload_is_the_documented_stream_of_the_named_aead(v):
    """Opened without cifer.envelope: HKDF from `cryptography`, and the AEAD the vector names,
    chunk i under nonce u88(i) || flag with the message header as associated data."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    aead_class = {AES_256_GCM: AESGCM, CHACHA20_POLY1305: ChaCha20Poly1305}[v.get("aead", AES_256_GCM)]
    label = b"CIFER-v1 payload"
    payload_key = HKDF(hashes.SHA256(), 32, salt=bytes.fromhex(v["message_id"]),
                       info=len(label).to_bytes(2, "big") + label).derive(bytes.fromhex(v["data_key"]))
    envelope = bytes.fromhex(v["envelope"])
    header, length = parse_header(envelope)
    sealed = v["chunk_size"] + 16
    chunks = [envelope[i:i + sealed] for i in range(length, len(envelope), sealed)]
    aead = aead_class(payload_key)
    plaintext = b"".join(
        aead.decrypt(i.to_bytes(11, "big") + bytes([i == len(chunks) - 1]), chunk, header.message_bytes)
        for i, chunk in enumerate(chunks)
    )
    assert plaintext.hex() == v["plaintext"]
