"""Request bodies of /v1/encrypt and /v1/decrypt, parsed at the edge: every fault is a 400
that names the field (seed §9.1), never a 500."""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode
from cifer.envelope.format import CIFER_ID_RE, encode_metadata

ENCODINGS = ("base64", "hex", "utf8")


def invalid(field: str, problem: str, code: ErrorCode = ErrorCode.INVALID_REQUEST) -> ApiError:
    return ApiError(code, f"{field}: {problem}", details={"field": field})


async def json_object(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    for key in body:
        if key not in allowed:
            raise invalid(key, "unknown field")
    return body


def cifer_id(value: object, field: str = "cifer_id") -> str:
    if not isinstance(value, str):
        raise invalid(field, "is required: a cifer id (cif_...)")
    if not CIFER_ID_RE.fullmatch(value):
        raise ApiError(ErrorCode.INVALID_CIFER_ID, details={"field": field, "cifer_id": value[:80]})
    return value


def encoding(value: object, *, allowed: tuple[str, ...] = ENCODINGS) -> str:
    """The body's `encoding`; callers pass "base64" when it is absent (null is not absent)."""
    if value not in allowed:
        raise invalid("encoding", f"must be one of {', '.join(allowed)}")
    return value


def decode(value: object, how: str, field: str) -> bytes:
    if not isinstance(value, str):
        raise invalid(field, "is required: a string")
    try:
        if how == "base64":
            return binascii.a2b_base64(value, strict_mode=True)
        if how == "hex":
            return binascii.a2b_hex(value)  # unlike bytes.fromhex, no whitespace
        return value.encode("utf-8")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise invalid(field, f"is not valid {how}") from None


def encode(data: bytes, how: str) -> str:
    if how == "hex":
        return data.hex()
    if how == "utf8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid("encoding", "the plaintext is not UTF-8 text; ask for base64 or hex") from None
    return binascii.b2a_base64(data, newline=False).decode()


def metadata(value: object, field: str = "metadata") -> dict[str, str]:
    """Authenticated, not secret, carried in the envelope: strings only, within its bound.
    Callers pass {} when it is absent (null is not absent)."""
    if not isinstance(value, Mapping):
        raise invalid(field, "must be an object of strings")
    try:
        encode_metadata(value)
    except ValueError as exc:
        raise invalid(field, str(exc)) from None
    return dict(value)


def metadata_header(raw: str | None) -> dict[str, str]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise invalid("X-Cifer-Metadata", "must be a JSON object of strings") from None
    return metadata(value, "X-Cifer-Metadata")
