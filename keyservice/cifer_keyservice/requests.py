"""Request bodies parsed once, at the edge, into typed objects; every fault is a 400 that
names the field. Bounds follow the seed's OpenAPI (name 255, description 1000, rotation
0..365 days) and, where it is silent, are set here."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode
from cifer.crypto.suites import suite_by_name
from cifer.envelope.format import CIFER_ID_RE

OPERATIONS = ("encrypt", "decrypt", "rotate", "revoke")
POLICY_FIELDS = ("auto_rotate_days", "allowed_operations", "allowed_principals", "re_encryption_window_days")
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_CHARS = 128
MAX_METADATA_VALUE_CHARS = 1024
MAX_ALLOWED_PRINCIPALS = 100
MAX_PRINCIPAL_CHARS = 255
WEBHOOK_ID_RANDOM_CHARS = 24  # 142 bits, as cifer ids
WEBHOOK_ID_RE = re.compile(r"wh_[A-Za-z0-9]{%d}" % WEBHOOK_ID_RANDOM_CHARS)


def invalid(field: str, problem: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_REQUEST, f"{field}: {problem}", details={"field": field})


_BODY = web.RequestKey("json_body", dict)


async def json_object(request: web.Request, *, required: bool = False) -> dict[str, Any]:
    """The body as a JSON object; an empty body is an empty object unless the body is
    `required`. Parsed once per request (middleware may look before the handler does)."""
    raw = await request.read()  # aiohttp keeps the bytes: a second read returns them again
    if required and not raw.strip():
        raise invalid("body", "is required: a JSON object")
    if _BODY in request:
        return request[_BODY]
    if not raw.strip():
        body = {}
    else:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(ErrorCode.INVALID_REQUEST, "body is not valid JSON", details={"field": "body"}) from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    request[_BODY] = body
    return body


def _refuse_unknown(body: Mapping[str, Any], allowed: Collection[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise invalid(prefix + key, "unknown field")


def _string(body: Mapping[str, Any], field: str, *, max_chars: int, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if len(value) > max_chars:
        raise invalid(field, f"must be at most {max_chars} characters")
    return value


def _integer(body: Mapping[str, Any], field: str, *, low: int, high: int, default: int | None, prefix: str = "") -> int | None:
    if field not in body:
        return default
    value = body[field]  # null is not an integer: only absence takes the default
    if isinstance(value, float) and value.is_integer():  # JSON has one number type: 30.0 is 30
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(prefix + field, f"must be an integer from {low} to {high}")
    return value


def _object(body: Mapping[str, Any], field: str) -> dict[str, Any]:
    """An optional object field: absent is empty, null is refused like any other non-object."""
    value = body.get(field, {})
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    return value


def string_map(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise invalid(field, "must be an object of strings")
    if len(value) > MAX_METADATA_ENTRIES:
        raise invalid(field, f"at most {MAX_METADATA_ENTRIES} entries")
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"{field}.{key}", "must be a string")
        if not key or len(key) > MAX_METADATA_KEY_CHARS or len(item) > MAX_METADATA_VALUE_CHARS:
            raise invalid(f"{field}.{key}", f"keys 1..{MAX_METADATA_KEY_CHARS}, values up to {MAX_METADATA_VALUE_CHARS} characters")
    return dict(value)


@dataclasses.dataclass(frozen=True)
class Policy:
    """Who may do what with a cifer. The owner may always decrypt unless `decrypt` is not allowed."""

    auto_rotate_days: int | None = None
    """Rotate automatically this many days after the current version was made (0 or absent: never)."""
    allowed_operations: tuple[str, ...] = OPERATIONS
    """What may be done with the key at all, by anyone (seed: encrypt, decrypt, rotate, revoke)."""
    allowed_principals: tuple[str, ...] = ()
    """Principals besides the owner that may decrypt, e.g. `system:serviceaccount:payments:api`."""
    re_encryption_window_days: int | None = None
    """Days a rotated-out version stays decrypt-only when a rotation names no window (scheduled
    rotations never do); None: the service's `default_re_encryption_window_days`. 0: retired at once."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"allowed_operations": list(self.allowed_operations)}
        if self.auto_rotate_days is not None:
            out["auto_rotate_days"] = self.auto_rotate_days
        if self.allowed_principals:
            out["allowed_principals"] = list(self.allowed_principals)
        if self.re_encryption_window_days is not None:
            out["re_encryption_window_days"] = self.re_encryption_window_days
        return out

    @classmethod
    def from_json(cls, value: Any, field: str = "policy") -> Policy:
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise invalid(field, "must be an object")
        _refuse_unknown(value, POLICY_FIELDS, field + ".")
        days = _integer(value, "auto_rotate_days", low=0, high=365, default=None, prefix=field + ".")
        window = _integer(value, "re_encryption_window_days", low=0, high=365, default=None, prefix=field + ".")
        operations = value.get("allowed_operations", list(OPERATIONS))
        if not isinstance(operations, list) or not all(op in OPERATIONS for op in operations):
            raise invalid(f"{field}.allowed_operations", f"must be a list drawn from {', '.join(OPERATIONS)}")
        principals = value.get("allowed_principals", [])
        if (
            not isinstance(principals, list) or len(principals) > MAX_ALLOWED_PRINCIPALS
            or not all(isinstance(p, str) and 0 < len(p) <= MAX_PRINCIPAL_CHARS for p in principals)
        ):
            raise invalid(f"{field}.allowed_principals", f"must be a list of at most {MAX_ALLOWED_PRINCIPALS} principal names")
        return cls(
            auto_rotate_days=days or None,
            allowed_operations=tuple(op for op in OPERATIONS if op in operations),
            allowed_principals=tuple(dict.fromkeys(principals)),
            re_encryption_window_days=window,
        )

    def allows(self, operation: str) -> bool:
        return operation in self.allowed_operations


@dataclasses.dataclass(frozen=True)
class CreateCifer:
    name: str
    description: str
    metadata: dict[str, str]
    policy: Policy
    algorithm: str  # a suite name

    @classmethod
    def parse(cls, body: Mapping[str, Any], *, default_algorithm: str) -> CreateCifer:
        _refuse_unknown(body, {"name", "description", "metadata", "policy", "algorithm"})
        algorithm = _string(body, "algorithm", max_chars=32, default=default_algorithm)
        try:
            suite_by_name(algorithm)
        except KeyError:
            raise invalid("algorithm", "must be ML-KEM-768, ML-KEM-1024 or X-Wing") from None
        return cls(
            name=_string(body, "name", max_chars=255, default=""),
            description=_string(body, "description", max_chars=1000, default=""),
            metadata=string_map(body.get("metadata", {}), "metadata"),
            policy=Policy.from_json(_object(body, "policy")),
            algorithm=algorithm,
        )


@dataclasses.dataclass(frozen=True)
class UpdateCifer:
    """PATCH /v1/cifers/{cifer_id} (CIFER's extension): None leaves a field as it is; `metadata`
    and `policy`, when given, replace the whole map or policy."""

    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    policy: Policy | None = None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> UpdateCifer:
        _refuse_unknown(body, {"name", "description", "metadata", "policy"})
        return cls(
            name=_string(body, "name", max_chars=255) if "name" in body else None,
            description=_string(body, "description", max_chars=1000) if "description" in body else None,
            metadata=string_map(body["metadata"], "metadata") if "metadata" in body else None,
            policy=Policy.from_json(_object(body, "policy")) if "policy" in body else None,
        )


@dataclasses.dataclass(frozen=True)
class RotateCifer:
    reason: str
    re_encryption_window_days: int | None
    """None: the cifer's `policy.re_encryption_window_days`, else the service's default."""

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> RotateCifer:
        _refuse_unknown(body, {"reason", "re_encryption_window_days"})
        return cls(
            reason=_string(body, "reason", max_chars=255, default="manual"),
            re_encryption_window_days=_integer(body, "re_encryption_window_days", low=0, high=365, default=None),
        )


def cifer_id(value: str) -> str:
    """A path's cifer id, or 400 INVALID_CIFER_ID."""
    if not CIFER_ID_RE.fullmatch(value):
        raise ApiError(ErrorCode.INVALID_CIFER_ID, details={"cifer_id": value[:80]})
    return value


def webhook_id(value: str) -> str:
    """A path's webhook id, or 400 naming the field."""
    if not WEBHOOK_ID_RE.fullmatch(value):
        raise invalid("webhook_id", "is not a webhook id")
    return value
