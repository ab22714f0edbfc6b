"""No malleability: any bit flip, truncation, extension, or chunk drop, reorder,
duplication or splice is rejected with InvalidCiphertext, and no plaintext is released."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from cifer.envelope import decrypt, decrypt_stream, encrypt
from cifer.envelope.format import parse_header
from cifer.exceptions import InvalidCiphertext
from envelope_helpers import SUITES, keyring_for

CHUNK = 1024
SEALED = CHUNK + 16
KEYRING, V1, V2 = keyring_for(SUITES[0])
PLAINTEXT = os.urandom(4 * CHUNK + 100)  # five chunks, the last one short
BLOB = encrypt(V1, PLAINTEXT, metadata={"k": "v"}, chunk_size=CHUNK)
_, HEADER_LEN = parse_header(BLOB)
CHUNKS = [BLOB[HEADER_LEN + i * SEALED:HEADER_LEN + (i + 1) * SEALED] for i in range(5)]


def rejected(envelope: bytes) -> bool:
    try:
        decrypt(envelope, KEYRING)
    except InvalidCiphertext:
        return True
    return False


def test_the_untouched_blob_decrypts():
    assert decrypt(BLOB, KEYRING) == PLAINTEXT
    assert b"".join(CHUNKS) == BLOB[HEADER_LEN:]


@given(st.integers(0, len(BLOB) * 8 - 1))
@settings(max_examples=400, deadline=None)
def test_any_bit_flip_is_rejected(bit):
    tampered = bytearray(BLOB)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert rejected(bytes(tampered))


def test_every_header_bit_flip_is_rejected():
    for bit in range(HEADER_LEN * 8):
        tampered = bytearray(BLOB)
        tampered[bit // 8] ^= 1 << (bit % 8)
        assert rejected(bytes(tampered)), f"flip of bit {bit} accepted"


@given(st.integers(0, len(BLOB) - 1))
@settings(max_examples=300, deadline=None)
def test_any_truncation_is_rejected(length):
    assert rejected(BLOB[:length])


@given(st.binary(min_size=1, max_size=SEALED + 1))
@settings(max_examples=100, deadline=None)
def test_any_trailing_bytes_are_rejected(extra):
    assert rejected(BLOB + extra)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_other_chunk_sequence_is_rejected(order):
    """Drops, reorders and duplicates: every sequence but 0,1,2,3,4 fails."""
    if order == [0, 1, 2, 3, 4]:
        return
    assert rejected(BLOB[:HEADER_LEN] + b"".join(CHUNKS[i] for i in order))


def test_cutting_at_every_chunk_boundary_is_rejected():
    for n in range(5):
        assert rejected(BLOB[:HEADER_LEN] + b"".join(CHUNKS[:n]))


def test_chunks_spliced_from_another_message_are_rejected():
    other = encrypt(V1, PLAINTEXT, metadata={"k": "v"}, chunk_size=CHUNK)
    _, other_len = parse_header(other)
    spliced = BLOB[:HEADER_LEN + SEALED] + other[other_len + SEALED:]
    assert rejected(spliced)
    assert rejected(other[:other_len] + BLOB[HEADER_LEN:])


def test_a_key_slot_from_another_message_is_rejected():
    other = encrypt(V1, PLAINTEXT, metadata={"k": "v"}, chunk_size=CHUNK)
    other_header, other_len = parse_header(other)
    mine, _ = parse_header(BLOB)
    assert rejected(mine.with_slot(other_header.slot).to_bytes() + BLOB[HEADER_LEN:])


def test_an_empty_final_chunk_after_full_chunks_is_rejected():
    """A multiple of the chunk size ends in a full final chunk; an extra empty one is forged."""
    exact = encrypt(V1, bytes(2 * CHUNK), chunk_size=CHUNK)
    _, n = parse_header(exact)
    assert len(exact) == n + 2 * SEALED
    assert rejected(exact[:n + SEALED])  # first chunk alone: it was not sealed as final


def test_no_plaintext_is_released_before_the_stream_fails():
    """A consumer sees whole verified chunks, then an error: never a clean end."""
    cut = BLOB[:HEADER_LEN + 2 * SEALED + 10]
    released = []
    with pytest.raises(InvalidCiphertext):
        for piece in decrypt_stream([cut], KEYRING):
            released.append(piece)
    assert b"".join(released) == PLAINTEXT[:2 * CHUNK]  # only the two chunks that verified


def test_a_tampered_chunk_releases_nothing_of_it():
    tampered = bytearray(CHUNKS[1])
    tampered[5] ^= 1
    pieces = [BLOB[:HEADER_LEN], CHUNKS[0], bytes(tampered), *CHUNKS[2:]]  # as a network reader sees it
    released = []
    with pytest.raises(InvalidCiphertext):
        for piece in decrypt_stream(pieces, KEYRING):
            released.append(piece)
    assert b"".join(released) == PLAINTEXT[:CHUNK]


def test_an_unknown_key_version_is_rejected():
    envelope = encrypt(V2, b"hello")
    header, n = parse_header(envelope)
    from cifer.envelope import Keyring
    only_v1 = Keyring()
    only_v1.add(V1.cifer_id, 1, SUITES[0], SUITES[0].generate_seed())
    with pytest.raises(InvalidCiphertext):
        decrypt(envelope, only_v1)
