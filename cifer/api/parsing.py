"""The request edge every CIFER service shares: a JSON body read once, its fields checked, ids
and page sizes from paths and queries. Every fault is a 400 that names the field (seed §9.1),
never a 500; what only one part accepts is parsed in that part."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode
from cifer.dataprotection import keytypes
from cifer.envelope.format import CIFER_ID_RE

_BODY = web.RequestKey("json_body", dict)


def invalid(field: str, problem: str, code: ErrorCode = ErrorCode.INVALID_REQUEST) -> ApiError:
    return ApiError(code, f"{field}: {problem}", details={"field": field})


_JSON_WHITESPACE = b" \t\n\r"


async def json_object(request: web.Request, *, required: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object unless the body is
    `required`. Parsed once per request (middleware may look before the handler does)."""
    raw = await request.read()  # aiohttp keeps the bytes: a second read returns them again
    if required and not raw.strip(_JSON_WHITESPACE):
        raise invalid("body", "is required: a JSON object")
    if _BODY in request:
        return request[_BODY]
    if not raw.strip(_JSON_WHITESPACE):  # JSON's own four: a vertical tab or form feed is not "no body"
        body = {}
    else:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise invalid("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    request[_BODY] = body
    return body


def refuse_unknown(body: Mapping[str, Any], allowed: Collection[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise invalid(prefix + key, "unknown field")


def string(body: Mapping[str, Any], field: str, *, max_chars: int, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if len(value) > max_chars:
        raise invalid(field, f"must be at most {max_chars} characters")
    return value


def integer(body: Mapping[str, Any], field: str, *, low: int, high: int, default: int | None,
            prefix: str = "") -> int | None:
    if field not in body:
        return default
    value = body[field]  # null is not an integer: only absence takes the default
    if isinstance(value, float) and value.is_integer():  # JSON has one number type: 30.0 is 30
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(prefix + field, f"must be an integer from {low} to {high}")
    return value


def optional_object(body: Mapping[str, Any], field: str) -> dict[str, Any]:
    """An optional object field: absent is empty, null is refused like any other non-object."""
    value = body.get(field, {})
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    return value


def cifer_id(value: object, field: str | None = None) -> str:
    """A cifer id, or 400 INVALID_CIFER_ID. `field` is the body field or header it came in,
    named in the error; an id from a path or a query names none."""
    if not isinstance(value, str):
        raise invalid(field or "cifer_id", "is required: a cifer id (cif_...)")
    if not CIFER_ID_RE.fullmatch(value):
        where = {"field": field} if field else {}
        raise ApiError(ErrorCode.INVALID_CIFER_ID, details={**where, "cifer_id": value[:80]})
    return value


def user_id(value: object, field: str = "userId") -> str:
    """Seed 001's userId (cifer.dataprotection.keytypes.valid_user_id), or 400 naming the field."""
    if not keytypes.valid_user_id(value):
        raise invalid(field, f"must be 1 to {keytypes.MAX_USER_ID_CHARS} characters, no NUL")
    return value


def positive_int(query: Mapping[str, str], field: str, *, default: int, high: int) -> int:
    """A page size or page number from the query: an integer from 1 to `high`; absent, `default`."""
    try:
        value = int(query.get(field, str(default)))
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise invalid(field, f"must be an integer from 1 to {high}")
    return value
