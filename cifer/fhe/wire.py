"""TenSEAL's serialized objects, read and written without TenSEAL: the few protobuf messages a
context and a CKKS vector are (`tenseal/proto/tensealcontext.proto`, `tensors.proto`), and the
16-byte header of the Microsoft SEAL objects inside them.

Reading these ourselves lets the service look at what a client sent before any heavy work: a
secret key is refused before a single SEAL object is deserialized, sizes and parameters are
checked before keys are loaded. Only the fields below are understood; unknown fields are skipped
as protobuf requires, a wrong wire type or a truncated field is a `WireError`.

    TenSEALContextProto  1 encryption_parameters: bytes (SEAL EncryptionParameters)
                         2 public_context: TenSEALPublicProto
                         3 private_context: TenSEALPrivateProto
                         4 encryption_type: uint32 (0 asymmetric, 1 symmetric)
    TenSEALPublicProto   1 public_key: bytes   2 auto_flags: uint32   3 scale: double
                         4 relin_keys: bytes   5 galois_keys: bytes   (SEAL objects)
    TenSEALPrivateProto  1 secret_key: bytes   2 relin_keys_generated: bool
                         3 galois_keys_generated: bool
    CKKSVectorProto      1 sizes: repeated uint32 (packed or not)
                         2 ciphertexts: repeated bytes (SEAL Ciphertext)   3 scale: double
"""

from __future__ import annotations

import dataclasses
import struct

from cifer.exceptions import CoreError

SEAL_MAGIC = 0xA15E
SEAL_HEADER = struct.Struct("<HBBBBHQ")  # magic, header size, version major, minor, compression, reserved, size
SEAL_COMPRESSION = {0: "none", 1: "zlib", 2: "zstd"}
ASYMMETRIC = 0
AUTO_ALL = 7  # TenSEAL's auto_relin | auto_rescale | auto_mod_switch, as ts.context() sets them

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class WireError(CoreError):
    """Bytes that are not the TenSEAL or SEAL object they claim to be."""


@dataclasses.dataclass(frozen=True)
class TensealContext:
    """The parts of a serialized TenSEAL context the service looks at. Blobs are SEAL-serialized
    objects, still compressed, as memoryviews of the received bytes (no copies)."""

    encryption_parameters: memoryview
    public_key: memoryview | None
    relin_keys: memoryview | None
    galois_keys: memoryview | None
    scale: float | None
    has_secret_key: bool
    encryption_type: int


@dataclasses.dataclass(frozen=True)
class CkksVector:
    """A serialized TenSEAL CKKSVector: its logical sizes, one SEAL ciphertext per chunk, the scale
    TenSEAL encodes plaintexts at for it."""

    sizes: tuple[int, ...]
    ciphertexts: tuple[memoryview, ...]
    scale: float


# --- protobuf, the subset ------------------------------------------------------------------

def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 64 bits")


def _fields(data: bytes | memoryview):
    """(field number, wire type, value) for each field; a LEN value is a memoryview."""
    buf = memoryview(data)
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, kind = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if kind == _VARINT:
            value, pos = _varint(buf, pos)
        elif kind == _I64:
            if pos + 8 > len(buf):
                raise WireError("truncated 64-bit field")
            value, pos = buf[pos:pos + 8], pos + 8
        elif kind == _LEN:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise WireError("truncated length-delimited field")
            value, pos = buf[pos:pos + length], pos + length
        elif kind == _I32:
            if pos + 4 > len(buf):
                raise WireError("truncated 32-bit field")
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise WireError(f"unsupported wire type {kind}")
        yield number, kind, value


def _expect(kind: int, wanted: int, what: str) -> None:
    if kind != wanted:
        raise WireError(f"{what} has the wrong wire type")


def _double(value: memoryview) -> float:
    return struct.unpack("<d", value)[0]


def _key(number: int, kind: int) -> bytes:
    return _encode_varint(number << 3 | kind)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, payload: bytes | memoryview) -> list[bytes | memoryview]:
    return [_key(number, _LEN), _encode_varint(len(payload)), payload]


# --- TenSEAL context -----------------------------------------------------------------------

def parse_context(data: bytes | memoryview) -> TensealContext:
    params = public_key = relin = galois = None
    scale = None
    secret = False
    encryption_type = ASYMMETRIC
    for number, kind, value in _fields(data):
        if number == 1:
            _expect(kind, _LEN, "encryption_parameters")
            params = value
        elif number == 2:
            _expect(kind, _LEN, "public_context")
            for pnum, pkind, pvalue in _fields(value):
                if pnum == 1:
                    _expect(pkind, _LEN, "public_key")
                    public_key = pvalue or None
                elif pnum == 3:
                    _expect(pkind, _I64, "scale")
                    scale = _double(pvalue) or None
                elif pnum == 4:
                    _expect(pkind, _LEN, "relin_keys")
                    relin = pvalue or None
                elif pnum == 5:
                    _expect(pkind, _LEN, "galois_keys")
                    galois = pvalue or None
        elif number == 3:
            _expect(kind, _LEN, "private_context")
            for pnum, pkind, pvalue in _fields(value):
                if pnum == 1:
                    _expect(pkind, _LEN, "secret_key")
                    secret = secret or len(pvalue) > 0
        elif number == 4:
            _expect(kind, _VARINT, "encryption_type")
            encryption_type = value
    if not params:
        raise WireError("no encryption parameters: not a TenSEAL context")
    return TensealContext(encryption_parameters=params, public_key=public_key, relin_keys=relin,
                          galois_keys=galois, scale=scale, has_secret_key=secret, encryption_type=encryption_type)


def encode_context(*, encryption_parameters: bytes, public_key: bytes | None, relin_keys: bytes | None,
                   galois_keys: bytes | None, scale: float) -> bytes:
    """A public TenSEAL context (what `make_context_public()` then `serialize()` gives): never a
    secret key, since there is no argument for one."""
    public: list[bytes | memoryview] = []
    if public_key:
        public += _len_field(1, public_key)
    public += [_key(2, _VARINT), _encode_varint(AUTO_ALL), _key(3, _I64), struct.pack("<d", scale)]
    if relin_keys:
        public += _len_field(4, relin_keys)
    if galois_keys:
        public += _len_field(5, galois_keys)
    public_bytes = b"".join(public)
    return b"".join([*_len_field(1, encryption_parameters), *_len_field(2, public_bytes),
                     _key(4, _VARINT), _encode_varint(ASYMMETRIC)])


# --- TenSEAL CKKS vector -------------------------------------------------------------------

def parse_vector(data: bytes | memoryview) -> CkksVector:
    sizes: list[int] = []
    cts: list[memoryview] = []
    scale = 0.0
    for number, kind, value in _fields(data):
        if number == 1:
            if kind == _VARINT:
                sizes.append(value)
            elif kind == _LEN:  # packed, as proto3 writes repeated scalars
                pos = 0
                while pos < len(value):
                    size, pos = _varint(value, pos)
                    sizes.append(size)
            else:
                raise WireError("sizes has the wrong wire type")
        elif number == 2:
            _expect(kind, _LEN, "ciphertexts")
            cts.append(value)
        elif number == 3:
            _expect(kind, _I64, "scale")
            scale = _double(value)
    if not cts or len(cts) != len(sizes):
        raise WireError("not a CKKS vector: it needs as many sizes as ciphertexts, and at least one")
    return CkksVector(sizes=tuple(sizes), ciphertexts=tuple(cts), scale=scale)


def encode_vector(size: int, ciphertext: bytes | memoryview, scale: float) -> bytes:
    sizes = _encode_varint(size)
    return b"".join([*_len_field(1, sizes), *_len_field(2, ciphertext), _key(3, _I64), struct.pack("<d", scale)])


# --- SEAL objects --------------------------------------------------------------------------

def check_seal_object(blob: bytes | memoryview, what: str) -> None:
    """The SEAL header is well formed and its size is exactly the blob's: SEAL itself checks the
    rest when it loads the object (parameters, dimensions, every coefficient in range)."""
    if len(blob) < SEAL_HEADER.size:
        raise WireError(f"{what}: too short for a SEAL object")
    magic, header_size, major, _minor, compression, _reserved, size = SEAL_HEADER.unpack_from(blob)
    if magic != SEAL_MAGIC or header_size != SEAL_HEADER.size:
        raise WireError(f"{what}: not a SEAL object")
    if major not in (3, 4) or compression not in SEAL_COMPRESSION:
        raise WireError(f"{what}: unsupported SEAL serialization")
    if size != len(blob):
        raise WireError(f"{what}: its SEAL header says {size} bytes, it has {len(blob)}")
