"""A seed-001 value on its way into an envelope and back (docs/security-api.md, "Values").

`data` is a string or a JSON object. An object is sealed as canonical JSON (keys sorted, no
whitespace, UTF-8) and comes back as an equal object; a string comes back as the same string.
What the opener must know travels in the envelope's metadata, which every chunk's tag and the key
commitment authenticate, under keys no `/v1/encrypt` caller may set (`RESERVED_PREFIX`):

- `cifer:content`: `json` or `text`, how the plaintext reads back;
- `cifer:compression`: `deflate` when the plaintext was compressed (zlib, RFC 1950) before sealing;
- `cifer:aad`: `sha256:` and the hex SHA-256 of the additional authenticated data, when there was
  some. Opening with other AAD, or none, fails; so does opening with AAD an envelope sealed
  without it. The AAD itself is authenticated, not secret, as GCM's associated data is;
- `cifer:data-type`: the request's `dataType`, which the key service records with each decrypt;
- `cifer:user-id`: the request's `userId`; a decryption must name the same user;
- `cifer:field`: the JSON Pointer of the field an envelope holds (field-level encryption), so an
  envelope moved to another field fails there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import zlib
from collections.abc import Mapping
from typing import Any

from cifer.exceptions import CoreError, InvalidCiphertext

RESERVED_PREFIX = "cifer:"
CONTENT, COMPRESSION, AAD, FIELD = "cifer:content", "cifer:compression", "cifer:aad", "cifer:field"
DATA_TYPE = "cifer:data-type"  # the request's dataType: the key service's decrypt records name it
USER_ID = "cifer:user-id"  # the request's userId: a decryption naming another user is refused
MAX_AAD_BYTES = 4096  # its digest is what the envelope carries; the bound keeps requests small
MAX_NESTING = 64  # JSON objects deeper than this are refused before they are serialized


class UnsealableValue(CoreError):
    """A value that cannot be sealed as asked (names the field)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class AadMismatch(InvalidCiphertext):
    """The envelope was sealed with other additional authenticated data than the opener gave."""


@dataclasses.dataclass(frozen=True)
class Sealable:
    """What goes into an envelope for one value: its plaintext bytes and the metadata that says
    how to read them back."""

    plaintext: bytes
    metadata: dict[str, str]
    original_size: int  # bytes of the value as serialized, before compression


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; refuses NaN and infinities (not JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def aad_digest(aad: str) -> str:
    return "sha256:" + hashlib.sha256(aad.encode("utf-8")).hexdigest()


def check_aad(aad: Any, field: str = "additionalAuthenticatedData") -> str | None:
    if aad is None:
        return None
    if not isinstance(aad, str) or not aad or len(aad.encode("utf-8", "surrogatepass")) > MAX_AAD_BYTES:
        raise UnsealableValue(field, f"must be a non-empty string of at most {MAX_AAD_BYTES} bytes")
    return aad


def serialize(data: Any, field: str = "data") -> tuple[bytes, str]:
    """The bytes of `data` and its content kind (`text` for a string, `json` for anything else)."""
    if isinstance(data, str):
        try:
            return data.encode("utf-8"), "text"
        except UnicodeEncodeError:
            raise UnsealableValue(field, "must be valid Unicode") from None
    try:
        return canonical_json(data), "json"
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        raise UnsealableValue(field, "must be a string or a JSON value") from None


def prepare(data: Any, *, compression: bool, aad: str | None, extra: Mapping[str, str] = {},
            field: str = "data") -> Sealable:
    """The plaintext and metadata for sealing `data`; `extra` adds metadata of the caller's
    (reserved keys included: the caller is this layer)."""
    return prepare_serialized(*serialize(data, field), compression=compression, aad=aad, extra=extra)


def prepare_serialized(raw: bytes, content: str, *, compression: bool, aad: str | None,
                       extra: Mapping[str, str] = {}) -> Sealable:
    """`prepare` of a value `serialize` already made bytes of."""
    metadata = {CONTENT: content, **extra}
    plaintext = raw
    if compression:
        plaintext = zlib.compress(raw, 6)
        metadata[COMPRESSION] = "deflate"
    if aad is not None:
        metadata[AAD] = aad_digest(aad)
    return Sealable(plaintext, metadata, len(raw))


def require_aad(metadata: Mapping[str, str], aad: str | None) -> None:
    """AadMismatch unless `aad` is what the envelope was sealed with (both none included)."""
    sealed = metadata.get(AAD)
    if sealed is None and aad is None:
        return
    if sealed is None or aad is None or not hmac.compare_digest(sealed, aad_digest(aad)):
        raise AadMismatch()


def restore(plaintext: bytes, metadata: Mapping[str, str], *, max_bytes: int) -> tuple[Any, bool]:
    """The value an opened envelope holds, and whether it was decompressed. `max_bytes` bounds what
    decompression may produce (a small envelope may not inflate into a large answer).
    InvalidCiphertext for what this layer did not seal."""
    compressed = metadata.get(COMPRESSION)
    if compressed not in (None, "deflate"):
        raise InvalidCiphertext()
    raw = plaintext
    if compressed:
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(plaintext, max_bytes + 1)
        except zlib.error:
            raise InvalidCiphertext() from None
        if len(raw) > max_bytes or not inflater.eof or inflater.unused_data:
            raise InvalidCiphertext()
    content = metadata.get(CONTENT, "text")
    try:
        text = raw.decode("utf-8")
        if content == "text":
            return text, bool(compressed)
        if content == "json":
            return json.loads(text), bool(compressed)
    except (UnicodeDecodeError, ValueError, RecursionError):
        pass
    raise InvalidCiphertext()


def reserved_keys(metadata: Mapping[str, str]) -> list[str]:
    """Metadata keys a `/v1/encrypt` caller may not set: they would change how this layer opens."""
    return sorted(key for key in metadata if key.startswith(RESERVED_PREFIX))
