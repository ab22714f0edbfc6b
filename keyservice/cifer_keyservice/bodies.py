"""Request bodies of /v1/cifers, parsed once at the edge into the lifecycle's types
(`records`); every fault is a 400 that names the field. Bounds follow the seed's OpenAPI (name
255, description 1000, rotation 0..365 days) and, where it is silent, `cifer.api.schemas`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from cifer.api.parsing import integer, invalid, optional_object, refuse_unknown, string
from cifer.api.schemas import (
    AEADS,
    MAX_ALLOWED_PURPOSES,
    MAX_PURPOSE_CHARS,
    KEY_RATE_CATEGORIES,
    MAX_ALLOWED_PRINCIPALS,
    MAX_KEY_RATE_LIMIT,
    MAX_KEY_RATE_WINDOW_S,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_VALUE_CHARS,
    MAX_PRINCIPAL_CHARS,
    RATE_LIMIT_RE,
)
from cifer.crypto.suites import suite_by_name
from cifer_keyservice.records import OPERATIONS, POLICY_FIELDS, CreateCifer, Policy, RotateCifer, UpdateCifer
from cifer_keyservice.settings import FixedWindow


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


def rate_limits(value: Any, field: str) -> dict[str, FixedWindow]:
    """`policy.rate_limits`: {category: "LIMIT/WINDOW_S"}, the spelling of `--rate-limit` and the chart."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(field, "must be an object of LIMIT/WINDOW_S strings by category "
                             f"({', '.join(KEY_RATE_CATEGORIES)})")
    refuse_unknown(value, KEY_RATE_CATEGORIES, field + ".")
    out = {}
    for category, spelled in value.items():
        bad = invalid(f"{field}.{category}", f"must be LIMIT/WINDOW_S, e.g. 100/60: a limit of 1 to "
                                             f"{MAX_KEY_RATE_LIMIT} in a window of 1 to {MAX_KEY_RATE_WINDOW_S} seconds")
        if not (isinstance(spelled, str) and RATE_LIMIT_RE.fullmatch(spelled)):  # the bounds are in the pattern
            raise bad
        limit, window_s = (int(n) for n in spelled.split("/"))
        out[category] = FixedWindow(limit, window_s)
    return out


def principals(value: Any, field: str) -> tuple[str, ...]:
    """Principals besides the owner that may decrypt, once each in their order."""
    if (not isinstance(value, list) or len(value) > MAX_ALLOWED_PRINCIPALS
            or not all(isinstance(p, str) and 0 < len(p) <= MAX_PRINCIPAL_CHARS for p in value)):
        raise invalid(field, f"must be a list of at most {MAX_ALLOWED_PRINCIPALS} principal names")
    return tuple(dict.fromkeys(value))


def purposes(value: Any, field: str) -> tuple[str, ...]:
    """Seed 001's accessPurposes a key's decryptions may name, once each in their order."""
    if (not isinstance(value, list) or len(value) > MAX_ALLOWED_PURPOSES
            or not all(isinstance(p, str) and 0 < len(p) <= MAX_PURPOSE_CHARS for p in value)):
        raise invalid(field, f"must be a list of at most {MAX_ALLOWED_PURPOSES} purposes of 1 to {MAX_PURPOSE_CHARS} "
                             "characters")
    return tuple(dict.fromkeys(value))


def policy(value: Any, field: str = "policy") -> Policy:
    if value is None:
        return Policy()
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    refuse_unknown(value, POLICY_FIELDS, field + ".")
    days = integer(value, "auto_rotate_days", low=0, high=365, default=None, prefix=field + ".")
    window = integer(value, "re_encryption_window_days", low=0, high=365, default=None, prefix=field + ".")
    operations = value.get("allowed_operations", list(OPERATIONS))
    if not isinstance(operations, list) or not all(op in OPERATIONS for op in operations):
        raise invalid(f"{field}.allowed_operations", f"must be a list drawn from {', '.join(OPERATIONS)}")
    return Policy(
        auto_rotate_days=days or None,
        allowed_purposes=purposes(value.get("allowed_purposes", []), f"{field}.allowed_purposes"),
        allowed_operations=tuple(op for op in OPERATIONS if op in operations),
        allowed_principals=principals(value.get("allowed_principals", []), f"{field}.allowed_principals"),
        re_encryption_window_days=window,
        rate_limits=rate_limits(value.get("rate_limits"), f"{field}.rate_limits"),
    )


def create_cifer(body: Mapping[str, Any], *, default_algorithm: str, default_aead: str = AEADS[0],
                 auto_rotate_days: int | None = None) -> CreateCifer:
    """`default_aead` and `auto_rotate_days` (for a policy that names none) come from the
    configuration (security_config.py)."""
    refuse_unknown(body, {"name", "description", "metadata", "policy", "algorithm", "aead"})
    algorithm = string(body, "algorithm", max_chars=32, default=default_algorithm)
    try:
        suite_by_name(algorithm)
    except KeyError:
        raise invalid("algorithm", "must be ML-KEM-768, ML-KEM-1024 or X-Wing") from None
    return CreateCifer(
        name=string(body, "name", max_chars=255, default=""),
        description=string(body, "description", max_chars=1000, default=""),
        metadata=string_map(body.get("metadata", {}), "metadata"),
        policy=with_rotation(policy(optional_object(body, "policy")), auto_rotate_days,
                             named="auto_rotate_days" in (body.get("policy") or {})),
        algorithm=algorithm,
        aead=aead(body.get("aead", default_aead)),
    )


def with_rotation(given: Policy, auto_rotate_days: int | None, *, named: bool) -> Policy:
    """The policy, rotating every `auto_rotate_days` unless it says otherwise itself."""
    return given if named or auto_rotate_days is None else dataclasses.replace(given, auto_rotate_days=auto_rotate_days)


def aead(value: Any, field: str = "aead") -> str:
    if value not in AEADS:
        raise invalid(field, f"must be {' or '.join(AEADS)}")
    return value


def update_cifer(body: Mapping[str, Any]) -> UpdateCifer:
    """PATCH /v1/cifers/{cifer_id}: only what the body names changes."""
    refuse_unknown(body, {"name", "description", "metadata", "policy"})
    return UpdateCifer(
        name=string(body, "name", max_chars=255) if "name" in body else None,
        description=string(body, "description", max_chars=1000) if "description" in body else None,
        metadata=string_map(body["metadata"], "metadata") if "metadata" in body else None,
        policy=policy(optional_object(body, "policy")) if "policy" in body else None,
    )


def rotate_cifer(body: Mapping[str, Any]) -> RotateCifer:
    refuse_unknown(body, {"reason", "re_encryption_window_days"})
    return RotateCifer(
        reason=string(body, "reason", max_chars=255, default="manual"),
        re_encryption_window_days=integer(body, "re_encryption_window_days", low=0, high=365, default=None),
    )
