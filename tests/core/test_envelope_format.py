"""Strict parsing: each malformed field is InvalidCiphertext, with one message for all."""

from __future__ import annotations

import struct

import pytest

from cifer.envelope import encrypt, parse_header_exact
from cifer.envelope.format import MAX_HEADER_BYTES, MAX_METADATA_BYTES, encode_metadata, parse_header
from cifer.exceptions import InvalidCiphertext
from envelope_helpers import CIFER_ID, SUITES, keyring_for

_, V1, _ = keyring_for(SUITES[0])
BLOB = encrypt(V1, b"hello", metadata={"a": "b"})
HEADER, HEADER_LEN = parse_header(BLOB)
CID_END = 10 + len(CIFER_ID)
META_LEN_AT = CID_END + 16


def with_bytes(offset: int, new: bytes) -> bytes:
    return BLOB[:offset] + new + BLOB[offset + len(new):]


@pytest.mark.parametrize("name, envelope", [
    ("wrong magic", with_bytes(0, b"CIFX")),
    ("version 0", with_bytes(4, b"\x00\x00")),
    ("version 2", with_bytes(4, b"\x00\x02")),
    ("unknown suite", with_bytes(6, b"\x00\x09")),
    ("KEM 0", with_bytes(6, b"\x00\x00")),
    ("ChaCha20-Poly1305 with KEM 0", with_bytes(6, b"\x01\x00")),
    ("ChaCha20-Poly1305 with an unknown KEM", with_bytes(6, b"\x01\x04")),
    ("unknown payload AEAD", with_bytes(6, b"\x02\x01")),
    ("payload AEAD 0xff", with_bytes(6, b"\xff\x01")),
    ("chunk size too small", with_bytes(8, b"\x09")),
    ("chunk size too large", with_bytes(8, b"\x15")),
    ("cifer id too short", with_bytes(9, b"\x0f")),
    ("cifer id too long", with_bytes(9, b"\x41")),
    ("cifer id with a bad character", with_bytes(12, b"-")),
    ("metadata longer than its bound", with_bytes(META_LEN_AT, struct.pack(">H", MAX_METADATA_BYTES + 1))),
    ("metadata length past the end", with_bytes(META_LEN_AT, struct.pack(">H", 4000))),
    ("key version 0", with_bytes(HEADER_LEN - 48 - 1088 - 4, b"\x00\x00\x00\x00")),
    ("empty input", b""),
    ("header only", BLOB[:HEADER_LEN]),
])
def test_malformed_envelopes_are_invalid_ciphertext(name, envelope):
    keyring, _, _ = keyring_for(SUITES[0])
    from cifer.envelope import decrypt
    with pytest.raises(InvalidCiphertext) as caught:
        decrypt(envelope, keyring)
    assert str(caught.value) == "invalid ciphertext"  # no hint of which check failed


@pytest.mark.parametrize("raw", [
    b"{}", b"[]", b'"x"', b'{"a":1}', b'{"b":"1","a":"2"}', b'{"a": "b"}', b'{"a":"b","a":"c"}',
    b"\xff", b'{"a":"\\u00e9"}',
])
def test_non_canonical_metadata_is_rejected(raw):
    forged = (
        BLOB[:META_LEN_AT] + struct.pack(">H", len(raw)) + raw + BLOB[META_LEN_AT + 2 + 9:]
    )  # 9 = len('{"a":"b"}')
    with pytest.raises(InvalidCiphertext):
        parse_header(forged)


def test_canonical_metadata_encoding_is_sorted_and_compact():
    assert encode_metadata({"b": "2", "a": "é"}) == '{"a":"é","b":"2"}'.encode()
    assert encode_metadata({}) == b""
    with pytest.raises(ValueError):
        encode_metadata({"a": 1})
    with pytest.raises(ValueError):
        encode_metadata({"a": "x" * MAX_METADATA_BYTES})


def test_exact_header_parse_refuses_trailing_and_missing_bytes():
    with pytest.raises(InvalidCiphertext):
        parse_header_exact(BLOB[:HEADER_LEN + 1])
    with pytest.raises(InvalidCiphertext):
        parse_header_exact(BLOB[:HEADER_LEN - 1])


def test_header_bound_covers_the_largest_header():
    _, v1, _ = keyring_for(SUITES[1])  # ML-KEM-1024: the longest KEM ciphertext
    big = encrypt(v1, b"", metadata={"k": "x" * (MAX_METADATA_BYTES - 8)})
    header, n = parse_header(big)
    assert n <= MAX_HEADER_BYTES


def test_encrypt_refuses_bad_arguments():
    import dataclasses
    with pytest.raises(ValueError):
        encrypt(dataclasses.replace(V1, cifer_id="cif_short"), b"x")
    with pytest.raises(ValueError):
        encrypt(V1, b"x", chunk_size=3000)
    with pytest.raises(ValueError):
        encrypt(V1, b"x", chunk_size=1 << 21)
