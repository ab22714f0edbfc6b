"""The bytes of an envelope header, version 1 (docs/envelope.md is the byte table).

Nothing else in CIFER slices envelope bytes. A header is two parts:

- the message header (magic through commitment): fixed for the life of the message and the
  associated data of every payload chunk;
- the key slot (key version, KEM ciphertext, wrapped data key): replaced by a rewrap, so a
  rotation never touches the payload.

Parsing is strict: every length is bounded, every value canonical, and every failure is
one `InvalidCiphertext` with no hint of which check failed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
from collections.abc import Mapping
from types import MappingProxyType

from cifer.crypto.suites import Suite, suite_by_id
from cifer.exceptions import InvalidCiphertext

MAGIC = b"CIFR"
FORMAT_VERSION = 1
CIFER_ID_RE = re.compile(r"cif_[A-Za-z0-9]{12,60}")  # the API's id pattern, capped at 64 chars
MIN_CIFER_ID_BYTES, MAX_CIFER_ID_BYTES = 16, 64
MIN_CHUNK_LOG2, MAX_CHUNK_LOG2 = 10, 20  # 1 KiB .. 1 MiB: bounds a reader's memory
DEFAULT_CHUNK_LOG2 = 16  # 64 KiB, as age
MESSAGE_ID_BYTES = 16
MAX_METADATA_BYTES = 4096
COMMITMENT_BYTES = 32
DATA_KEY_BYTES = 32
WRAPPED_KEY_BYTES = DATA_KEY_BYTES + 16  # AES-256-GCM ciphertext and tag
MAX_KEY_VERSION = 2**32 - 1

_PREFIX = struct.Struct(">4sHHBB")  # magic, version, suite, chunk log2, cifer id length
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
MAX_HEADER_BYTES = (
    _PREFIX.size + MAX_CIFER_ID_BYTES + MESSAGE_ID_BYTES + _U16.size + MAX_METADATA_BYTES
    + COMMITMENT_BYTES + _U32.size + 1568 + WRAPPED_KEY_BYTES
)  # 1568: the longest KEM ciphertext (ML-KEM-1024)


class Incomplete(Exception):
    """Not a parse error: the buffer ends before the header does."""


@dataclasses.dataclass(frozen=True, slots=True)
class KeySlot:
    """What a rewrap replaces: which key version, and the data key sealed to it."""

    key_version: int
    kem_ciphertext: bytes
    wrapped_key: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    suite: Suite
    chunk_size: int
    cifer_id: str
    message_id: bytes
    metadata: Mapping[str, str]
    commitment: bytes
    slot: KeySlot
    message_bytes: bytes  # the encoded message header: associated data of every chunk

    @property
    def key_version(self) -> int:
        return self.slot.key_version

    def to_bytes(self) -> bytes:
        return self.message_bytes + encode_slot(self.slot)

    def with_slot(self, slot: KeySlot) -> Header:
        _check_slot(self.suite, slot)
        return dataclasses.replace(self, slot=slot)


def encode_metadata(metadata: Mapping[str, str]) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8); the empty map is zero bytes."""
    if not metadata:
        return b""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("metadata keys and values must be strings")
    try:
        encoded = json.dumps(
            dict(sorted(metadata.items())), ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("metadata must be valid Unicode") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {len(encoded)} bytes encoded; the limit is {MAX_METADATA_BYTES}")
    return encoded


def _decode_metadata(raw: bytes) -> Mapping[str, str]:
    if not raw:
        return MappingProxyType({})
    try:
        value = json.loads(raw.decode("utf-8"))
        canonical = isinstance(value, dict) and len(value) > 0 and encode_metadata(value) == raw
    except (ValueError, RecursionError):
        canonical = False
    if not canonical:  # also rejects duplicate keys: they never re-encode to the same bytes
        raise InvalidCiphertext()
    return MappingProxyType(value)


def check_cifer_id(cifer_id: str) -> None:
    if not isinstance(cifer_id, str) or not CIFER_ID_RE.fullmatch(cifer_id):
        raise ValueError("cifer id must match ^cif_[A-Za-z0-9]{12,60}$")


def encode_message_header(
    *, suite: Suite, chunk_log2: int, cifer_id: str, message_id: bytes, metadata: bytes, commitment: bytes
) -> bytes:
    check_cifer_id(cifer_id)
    if not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2:
        raise ValueError(f"chunk size must be 2**{MIN_CHUNK_LOG2} .. 2**{MAX_CHUNK_LOG2} bytes")
    if len(message_id) != MESSAGE_ID_BYTES or len(commitment) != COMMITMENT_BYTES:
        raise RuntimeError("internal error: message id or commitment has the wrong length")
    if len(metadata) > MAX_METADATA_BYTES:
        raise ValueError("metadata too long")
    cid = cifer_id.encode("ascii")
    return b"".join((
        _PREFIX.pack(MAGIC, FORMAT_VERSION, suite.suite_id, chunk_log2, len(cid)),
        cid, message_id, _U16.pack(len(metadata)), metadata, commitment,
    ))


def _check_slot(suite: Suite, slot: KeySlot) -> None:
    if not 1 <= slot.key_version <= MAX_KEY_VERSION:
        raise ValueError("key version must be 1 .. 2**32-1")
    if len(slot.kem_ciphertext) != suite.ciphertext_bytes or len(slot.wrapped_key) != WRAPPED_KEY_BYTES:
        raise RuntimeError("internal error: key slot sizes do not match the suite")


def encode_slot(slot: KeySlot) -> bytes:
    return _U32.pack(slot.key_version) + slot.kem_ciphertext + slot.wrapped_key


class _Cursor:
    """Reads fields off a buffer; running out is `Incomplete`, never an IndexError."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise Incomplete()
        out = bytes(self.buf[self.pos:end])
        self.pos = end
        return out


def parse_header(buf: bytes | bytearray | memoryview) -> tuple[Header, int]:
    """Parses the header at the start of `buf`; returns it and its length in bytes.

    Raises `Incomplete` when `buf` stops before the header does (a stream reader then waits
    for more), `InvalidCiphertext` for anything else that is wrong.
    """
    cur = _Cursor(buf)
    # Check each field as soon as it is read, so garbage fails fast instead of waiting for bytes.
    magic, version, suite_id, chunk_log2, cid_len = _PREFIX.unpack(cur.take(_PREFIX.size))
    suite = suite_by_id(suite_id)
    if (
        magic != MAGIC or version != FORMAT_VERSION or suite is None
        or not MIN_CHUNK_LOG2 <= chunk_log2 <= MAX_CHUNK_LOG2
        or not MIN_CIFER_ID_BYTES <= cid_len <= MAX_CIFER_ID_BYTES
    ):
        raise InvalidCiphertext()
    cifer_id = cur.take(cid_len).decode("latin-1")
    if not CIFER_ID_RE.fullmatch(cifer_id):
        raise InvalidCiphertext()
    message_id = cur.take(MESSAGE_ID_BYTES)
    (metadata_len,) = _U16.unpack(cur.take(_U16.size))
    if metadata_len > MAX_METADATA_BYTES:
        raise InvalidCiphertext()
    metadata = _decode_metadata(cur.take(metadata_len))
    commitment = cur.take(COMMITMENT_BYTES)
    message_end = cur.pos
    (key_version,) = _U32.unpack(cur.take(_U32.size))
    if key_version == 0:
        raise InvalidCiphertext()
    slot = KeySlot(key_version, cur.take(suite.ciphertext_bytes), cur.take(WRAPPED_KEY_BYTES))
    header = Header(
        suite=suite, chunk_size=1 << chunk_log2, cifer_id=cifer_id, message_id=message_id,
        metadata=metadata, commitment=commitment, slot=slot,
        message_bytes=bytes(cur.buf[:message_end]),
    )
    return header, cur.pos


def parse_header_exact(data: bytes | bytearray | memoryview) -> Header:
    """A header alone, as the key service receives it: no bytes missing, none after."""
    try:
        header, length = parse_header(data)
    except Incomplete:
        raise InvalidCiphertext() from None
    if length != len(data):
        raise InvalidCiphertext()
    return header
