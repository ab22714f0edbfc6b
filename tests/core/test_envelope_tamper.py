"""No malleability: any bit flip, truncation, extension, or chunk drop, reorder,
duplication or splice is rejected with InvalidCiphertext, and no plaintext is released.
Every test runs for both payload AEADs, and the AEAD itself cannot be swapped."""

from __future__ import annotations

import dataclasses
import functools
import os

import pytest
from hypothesis import given, settings, strategies as st

from cifer.crypto.suites import (
    AEADS, ML_KEM_768, ML_KEM_768_CHACHA20_POLY1305, X_WING, X_WING_CHACHA20_POLY1305, Suite,
    suite_by_name,
)
from cifer.envelope import FixedRandomness, Keyring, Recipient, decrypt, decrypt_stream, encrypt, keys
from cifer.envelope.format import encode_message_header, encode_metadata, parse_header
from cifer.exceptions import InvalidCiphertext
from envelope_helpers import keyring_for

CHUNK = 1024
SEALED = CHUNK + 16
PLAINTEXT = os.urandom(4 * CHUNK + 100)  # five chunks, the last one short
TAMPER_SUITES = [ML_KEM_768, ML_KEM_768_CHACHA20_POLY1305]
each_aead = pytest.mark.parametrize("suite", TAMPER_SUITES, ids=lambda s: s.aead)


@dataclasses.dataclass(frozen=True)
class Sample:
    keyring: Keyring
    blob: bytes
    header_len: int
    chunks: list[bytes]

    def rejected(self, envelope: bytes) -> bool:
        try:
            decrypt(envelope, self.keyring)
        except InvalidCiphertext:
            return True
        return False


@functools.cache
def sample(suite: Suite) -> Sample:
    keyring, v1, _ = keyring_for(suite)
    blob = encrypt(v1, PLAINTEXT, metadata={"k": "v"}, chunk_size=CHUNK)
    _, header_len = parse_header(blob)
    chunks = [blob[header_len + i * SEALED:header_len + (i + 1) * SEALED] for i in range(5)]
    return Sample(keyring, blob, header_len, chunks)


@each_aead
def test_the_untouched_blob_decrypts(suite):
    s = sample(suite)
    assert decrypt(s.blob, s.keyring) == PLAINTEXT
    assert b"".join(s.chunks) == s.blob[s.header_len:]
    assert parse_header(s.blob)[0].suite is suite


@each_aead
@given(bit=st.data())
@settings(max_examples=400, deadline=None)
def test_any_bit_flip_is_rejected(suite, bit):
    s = sample(suite)
    bit = bit.draw(st.integers(0, len(s.blob) * 8 - 1))
    tampered = bytearray(s.blob)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert s.rejected(bytes(tampered))


@each_aead
def test_every_header_bit_flip_is_rejected(suite):
    s = sample(suite)
    for bit in range(s.header_len * 8):
        tampered = bytearray(s.blob)
        tampered[bit // 8] ^= 1 << (bit % 8)
        assert s.rejected(bytes(tampered)), f"flip of bit {bit} accepted"


@each_aead
@given(length=st.data())
@settings(max_examples=300, deadline=None)
def test_any_truncation_is_rejected(suite, length):
    s = sample(suite)
    assert s.rejected(s.blob[:length.draw(st.integers(0, len(s.blob) - 1))])


@each_aead
@given(extra=st.binary(min_size=1, max_size=SEALED + 1))
@settings(max_examples=100, deadline=None)
def test_any_trailing_bytes_are_rejected(suite, extra):
    s = sample(suite)
    assert s.rejected(s.blob + extra)


@each_aead
@given(order=st.lists(st.integers(0, 4), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_other_chunk_sequence_is_rejected(suite, order):
    """Drops, reorders and duplicates: every sequence but 0,1,2,3,4 fails."""
    if order == [0, 1, 2, 3, 4]:
        return
    s = sample(suite)
    assert s.rejected(s.blob[:s.header_len] + b"".join(s.chunks[i] for i in order))


@each_aead
def test_cutting_at_every_chunk_boundary_is_rejected(suite):
    s = sample(suite)
    for n in range(5):
        assert s.rejected(s.blob[:s.header_len] + b"".join(s.chunks[:n]))


@each_aead
def test_chunks_spliced_from_another_message_are_rejected(suite):
    s = sample(suite)
    _, v1, _ = keyring_for(suite)
    other = encrypt(v1, PLAINTEXT, metadata={"k": "v"}, chunk_size=CHUNK)
    _, other_len = parse_header(other)
    spliced = s.blob[:s.header_len + SEALED] + other[other_len + SEALED:]
    assert s.rejected(spliced)
    assert s.rejected(other[:other_len] + s.blob[s.header_len:])


@each_aead
def test_a_key_slot_from_another_message_is_rejected(suite):
    s = sample(suite)
    _, v1, _ = keyring_for(suite)
    other = encrypt(v1, PLAINTEXT, metadata={"k": "v"}, chunk_size=CHUNK)
    other_header, other_len = parse_header(other)
    mine, _ = parse_header(s.blob)
    assert s.rejected(mine.with_slot(other_header.slot).to_bytes() + s.blob[s.header_len:])


@each_aead
def test_an_empty_final_chunk_after_full_chunks_is_rejected(suite):
    """A multiple of the chunk size ends in a full final chunk; an extra empty one is forged."""
    s = sample(suite)
    _, v1, _ = keyring_for(suite)
    exact = encrypt(v1, bytes(2 * CHUNK), chunk_size=CHUNK)
    _, n = parse_header(exact)
    assert len(exact) == n + 2 * SEALED
    assert s.rejected(exact[:n + SEALED])  # first chunk alone: it was not sealed as final


@each_aead
def test_no_plaintext_is_released_before_the_stream_fails(suite):
    """A consumer sees whole verified chunks, then an error: never a clean end."""
    s = sample(suite)
    cut = s.blob[:s.header_len + 2 * SEALED + 10]
    released = []
    with pytest.raises(InvalidCiphertext):
        for piece in decrypt_stream([cut], s.keyring):
            released.append(piece)
    assert b"".join(released) == PLAINTEXT[:2 * CHUNK]  # only the two chunks that verified


@each_aead
def test_a_tampered_chunk_releases_nothing_of_it(suite):
    s = sample(suite)
    tampered = bytearray(s.chunks[1])
    tampered[5] ^= 1
    pieces = [s.blob[:s.header_len], s.chunks[0], bytes(tampered), *s.chunks[2:]]  # as a network reader sees it
    released = []
    with pytest.raises(InvalidCiphertext):
        for piece in decrypt_stream(pieces, s.keyring):
            released.append(piece)
    assert b"".join(released) == PLAINTEXT[:CHUNK]


@each_aead
def test_an_unknown_key_version_is_rejected(suite):
    _, v1, v2 = keyring_for(suite)
    envelope = encrypt(v2, b"hello")
    only_v1 = Keyring()
    only_v1.add(v1.cifer_id, 1, suite, suite.generate_seed())
    with pytest.raises(InvalidCiphertext):
        decrypt(envelope, only_v1)


# --- the payload AEAD is bound: the suite byte cannot be swapped -------------------------

def other_aead(suite: Suite) -> Suite:
    return suite_by_name(suite.name, AEADS[1 - AEADS.index(suite.aead)])


@pytest.mark.parametrize("suite", [ML_KEM_768, ML_KEM_768_CHACHA20_POLY1305, X_WING, X_WING_CHACHA20_POLY1305],
                         ids=lambda s: f"{s.name} {s.aead}")
def test_swapping_the_suite_byte_to_the_other_aead_is_rejected(suite):
    """The keyring holds the KEM key, which opens either AEAD, so only the cryptography stops it:
    the suite id is in the wrapping key's HKDF info and in every chunk's associated data."""
    keyring, v1, _ = keyring_for(suite)
    blob = encrypt(v1, PLAINTEXT, chunk_size=CHUNK)
    swapped = blob[:6] + other_aead(suite).suite_id.to_bytes(2, "big") + blob[8:]
    assert parse_header(swapped)[0].suite is other_aead(suite)  # it parses: a real suite, the same KEM
    with pytest.raises(InvalidCiphertext):
        decrypt(swapped, keyring)


@each_aead
def test_a_header_resealed_for_the_other_aead_by_a_data_key_holder_fails_every_chunk(suite):
    """Even someone who holds the data key (a sidecar the key service released it to) and seals a
    valid key slot for a header naming the other AEAD gets nothing: the chunks' associated data
    is the original header, and their AEAD is the original one."""
    s = sample(suite)
    _, v1, _ = keyring_for(suite)
    header, _ = parse_header(s.blob)
    data_key = s.keyring(header)
    forged_suite = other_aead(suite)
    message_header = encode_message_header(
        suite=forged_suite, chunk_log2=CHUNK.bit_length() - 1, cifer_id=header.cifer_id,
        message_id=header.message_id, metadata=encode_metadata(header.metadata), commitment=header.commitment,
    )
    slot = keys.seal_slot(data_key, suite=forged_suite, public_key=v1.public_key, cifer_id=header.cifer_id,
                          key_version=header.key_version, message_header=message_header)
    forged = message_header + slot.key_version.to_bytes(4, "big") + slot.kem_ciphertext + slot.wrapped_key
    forged_header, _ = parse_header(forged + s.blob[s.header_len:])
    assert s.keyring(forged_header) == data_key  # the forged key slot itself opens
    released = []
    with pytest.raises(InvalidCiphertext):
        for piece in decrypt_stream([forged, *s.chunks], s.keyring):
            released.append(piece)
    assert released == []


def test_the_aeads_seal_the_same_plaintext_differently():
    """Same KEM key, data key and message id: only the suite byte and the payload AEAD differ."""
    seed = ML_KEM_768.generate_seed()
    shared_secret, kem_ciphertext = ML_KEM_768.encapsulate(ML_KEM_768.public_key(seed))
    fixed = FixedRandomness(os.urandom(32), os.urandom(16), shared_secret, kem_ciphertext)
    aes, chacha = (
        encrypt(Recipient("cif_testtesttest", 1, suite, suite.public_key(seed)), PLAINTEXT, unsafe_randomness=fixed)
        for suite in (ML_KEM_768, ML_KEM_768_CHACHA20_POLY1305)
    )
    assert len(aes) == len(chacha)
    assert aes[6:8] == b"\x00\x01" and chacha[6:8] == b"\x01\x01"
    assert aes[:6] == chacha[:6]
    (_, n) = parse_header(aes)
    assert aes[n:] != chacha[n:]
