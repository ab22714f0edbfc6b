"""Round trips for every suite (three KEMs, two payload AEADs) and the boundary sizes, through
bytes, streams and files."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings, strategies as st

from cifer.envelope import (
    DEFAULT_CHUNK_SIZE, adecrypt_stream, aencrypt_stream, decrypt, decrypt_file, decrypt_stream, encrypt,
    encrypt_file, encrypt_stream, Keyring, parse_header_exact, rewrap,
)
from cifer.crypto.suites import AES_256_GCM, CHACHA20_POLY1305, suite_by_name
from cifer.exceptions import InvalidCiphertext
from cifer.envelope.format import parse_header
from envelope_helpers import SUITES, keyring_for

CHUNK = DEFAULT_CHUNK_SIZE
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * 1024 * 1024 + 17]
every_suite = pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"{s.name} {s.aead}")


@every_suite
@pytest.mark.parametrize("size", SIZES)
def test_bytes_round_trip_for_every_suite_and_boundary_size(suite, size):
    keyring, v1, _ = keyring_for(suite)
    plaintext = os.urandom(size)
    envelope = encrypt(v1, plaintext, metadata={"size": str(size)})
    assert decrypt(envelope, keyring) == plaintext


@every_suite
def test_envelope_starts_with_the_seeds_base64_prefix_or_its_chacha20_poly1305_twin(suite):
    import base64
    _, v1, _ = keyring_for(suite)
    prefix = {AES_256_GCM: b"Q0lGUgABAA", CHACHA20_POLY1305: b"Q0lGUgABAQ"}[suite.aead]
    assert base64.b64encode(encrypt(v1, b"x")).startswith(prefix)


def test_envelope_size_is_header_plus_chunks_plus_tags():
    suite = SUITES[0]
    keyring, v1, _ = keyring_for(suite)
    envelope = encrypt(v1, bytes(CHUNK * 2 + 5))
    header, header_len = parse_header(envelope)
    assert len(envelope) == header_len + (CHUNK + 16) * 2 + (5 + 16)


@given(
    plaintext=st.binary(max_size=5000),
    piece_sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=8),
    chunk_log2=st.integers(10, 12),
)
@settings(max_examples=60, deadline=None)
@pytest.mark.parametrize("aead", [AES_256_GCM, CHACHA20_POLY1305])
def test_any_plaintext_in_any_pieces_round_trips(aead, plaintext, piece_sizes, chunk_log2):
    keyring, v1, _ = keyring_for(suite_by_name("ML-KEM-768", aead))

    def pieces(data):  # cut data into the drawn piece sizes, cycling
        i, k = 0, 0
        while i < len(data):
            n = piece_sizes[k % len(piece_sizes)]
            yield data[i:i + n]
            i, k = i + n, k + 1

    envelope = b"".join(encrypt_stream(v1, pieces(plaintext), chunk_size=1 << chunk_log2))
    assert b"".join(decrypt_stream(pieces(envelope), keyring)) == plaintext


def test_stream_output_matches_one_shot_layout():
    keyring, v1, _ = keyring_for(SUITES[0])
    plaintext = os.urandom(3 * 1024 + 100)
    streamed = b"".join(encrypt_stream(v1, [plaintext[i:i + 7] for i in range(0, len(plaintext), 7)], chunk_size=1024))
    header, n = parse_header(streamed)
    assert len(streamed) == n + 3 * (1024 + 16) + 100 + 16
    assert decrypt(streamed, keyring) == plaintext


@pytest.mark.parametrize("aead", [AES_256_GCM, CHACHA20_POLY1305])
async def test_async_streams_round_trip(aead):
    keyring, v1, _ = keyring_for(suite_by_name("X-Wing", aead))
    plaintext = os.urandom(200_000)

    async def source(data, step):
        for i in range(0, len(data), step):
            yield data[i:i + step]

    envelope = b"".join([p async for p in aencrypt_stream(v1, source(plaintext, 10_000))])

    async def open_key(header):  # as the sidecar does: a coroutine asking the key service
        return keyring(header)

    out = b"".join([p async for p in adecrypt_stream(source(envelope, 4096), open_key)])
    assert out == plaintext


@pytest.mark.parametrize("aead", [AES_256_GCM, CHACHA20_POLY1305])
def test_file_objects_round_trip(aead):
    keyring, v1, _ = keyring_for(suite_by_name("ML-KEM-1024", aead))
    plaintext = os.urandom(CHUNK * 2 + 3)
    sealed, opened = io.BytesIO(), io.BytesIO()
    encrypt_file(v1, io.BytesIO(plaintext), sealed, metadata={"filename": "secret.bin"})
    sealed.seek(0)
    decrypt_file(sealed, opened, keyring)
    assert opened.getvalue() == plaintext


def test_metadata_is_authenticated_and_returned():
    keyring, v1, _ = keyring_for(SUITES[0])
    envelope = encrypt(v1, b"data", metadata={"filename": "secret.bin", "ü": "✓"})
    header, _ = parse_header(envelope)
    assert dict(header.metadata) == {"filename": "secret.bin", "ü": "✓"}
    assert (header.cifer_id, header.key_version) == (v1.cifer_id, 1)


@every_suite
def test_rewrap_to_version_2_keeps_payload_bytes_and_decrypts_with_version_2(suite):
    keyring, v1, _ = keyring_for(suite)
    version_2_only = Keyring()
    v2 = version_2_only.add(v1.cifer_id, 2, suite, suite.generate_seed())
    plaintext = os.urandom(3 * CHUNK + 9)
    old = encrypt(v1, plaintext)
    new = rewrap(old, keyring, v2)
    old_header, old_len = parse_header(old)
    new_header, new_len = parse_header(new)
    assert new_header.key_version == 2
    assert new[new_len:] == old[old_len:]  # payload untouched
    assert new_header.message_bytes == old_header.message_bytes
    assert decrypt(new, version_2_only) == plaintext
    with pytest.raises(InvalidCiphertext):
        decrypt(new, keyring)  # this keyring's version 2 is another key


@pytest.mark.parametrize("kem", ["ML-KEM-768", "X-Wing"])
def test_rewrap_keeps_the_payload_aead_whichever_aead_the_recipient_names(kem):
    """A recipient is a KEM key; the key service builds it from the cifer's KEM alone. The AEAD
    is the message's: a ChaCha20-Poly1305 envelope rewraps to a ChaCha20-Poly1305 envelope."""
    chacha = suite_by_name(kem, CHACHA20_POLY1305)
    keyring, v1, _ = keyring_for(chacha)
    version_2_only = Keyring()
    v2 = version_2_only.add(v1.cifer_id, 2, suite_by_name(kem), suite_by_name(kem).generate_seed())
    assert v2.suite.aead == AES_256_GCM
    plaintext = os.urandom(CHUNK + 1)
    old = encrypt(v1, plaintext)
    new = rewrap(old, keyring, v2)
    new_header, new_len = parse_header(new)
    assert new_header.suite is chacha and new_header.key_version == 2
    assert new[:8] == old[:8] and new[new_len:] == old[parse_header(old)[1]:]
    assert decrypt(new, version_2_only) == plaintext


def test_rewrap_refuses_another_cifer():
    keyring, v1, _ = keyring_for(SUITES[0])
    other = Keyring().add("cif_otherotherother", 2, SUITES[0], SUITES[0].generate_seed())
    with pytest.raises(ValueError):
        rewrap(encrypt(v1, b"x"), keyring, other)


@pytest.mark.parametrize("aead", [AES_256_GCM, CHACHA20_POLY1305])
def test_rewrap_refuses_another_kem(aead):
    keyring, v1, _ = keyring_for(suite_by_name("ML-KEM-768", aead))
    x_wing = suite_by_name("X-Wing", aead)
    other = Keyring().add(v1.cifer_id, 2, x_wing, x_wing.generate_seed())
    with pytest.raises(ValueError):
        rewrap(encrypt(v1, b"x"), keyring, other)


def test_header_alone_parses_exactly_as_the_key_service_receives_it():
    _, v1, _ = keyring_for(SUITES[0])
    envelope = encrypt(v1, b"payload")
    header, n = parse_header(envelope)
    assert parse_header_exact(envelope[:n]).to_bytes() == envelope[:n]


def test_a_reused_mutable_input_buffer_does_not_change_what_was_sealed():
    """A reader that refills one bytearray (as readinto does) must not corrupt held-back data."""
    keyring, v1, _ = keyring_for(SUITES[0])
    plaintext = os.urandom(5 * 1024 + 7)
    buf = bytearray(1024)

    def refill():
        for offset in range(0, len(plaintext), 1024):
            piece = plaintext[offset:offset + 1024]
            buf[:len(piece)] = piece
            yield memoryview(buf)[:len(piece)]

    envelope = b"".join(encrypt_stream(v1, refill(), chunk_size=1024))
    assert decrypt(envelope, keyring) == plaintext
    assert b"".join(decrypt_stream(refill_pieces(envelope, buf), keyring)) == plaintext


def refill_pieces(data: bytes, buf: bytearray):
    for offset in range(0, len(data), len(buf)):
        piece = data[offset:offset + len(buf)]
        buf[:len(piece)] = piece
        yield memoryview(buf)[:len(piece)]
