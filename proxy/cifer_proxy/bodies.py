"""Request bodies of /v1/encrypt and /v1/decrypt, parsed at the edge: every fault is a 400
that names the field (seed §9.1), never a 500. What every service parses is `cifer.api.parsing`."""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cifer.api import parsing
from cifer.api.parsing import invalid
from cifer.dataprotection import values
from cifer.envelope.format import encode_metadata

ENCODINGS = ("base64", "hex", "utf8")


async def json_object(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    """The sidecar's bodies: a JSON object is required, and holds only the `allowed` fields."""
    body = await parsing.json_object(request, required=True)
    parsing.refuse_unknown(body, allowed)
    return body


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
    reserved = values.reserved_keys(value)
    if reserved:  # they tell /api/security/decrypt how to open: only it sets them
        raise invalid(f"{field}.{reserved[0]}", f"keys starting {values.RESERVED_PREFIX} are CIFER's own")
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
