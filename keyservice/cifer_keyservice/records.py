"""What the cifer lifecycle takes and returns: a cifer's `Policy`, the requests it carries out,
and the records it answers with. Times are aware datetimes and keys DER bytes; the routes
render them to the wire (`routes/cifers.py`, `routes/keys.py`)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from cifer.api import schemas
from cifer_keyservice.settings import FixedWindow

OPERATIONS = tuple(schemas.OPERATIONS)  # the seed's, in its order
POLICY_FIELDS = ("auto_rotate_days", "allowed_operations", "allowed_principals", "re_encryption_window_days",
                 "rate_limits", "allowed_purposes")
T = TypeVar("T")


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
    allowed_purposes: tuple[str, ...] = ()
    """Seed 001's accessPurposes a decryption may name; empty: any (a decryption naming none, as
    /v1/decrypt's do, is refused when the list is set)."""
    rate_limits: Mapping[str, FixedWindow] = dataclasses.field(default_factory=dict)
    """This key's own limits per principal, by category (`schemas.KEY_RATE_CATEGORIES`), counted on
    top of the service's (`ratelimit.py`): they can only tighten what a principal may do with it."""

    def to_json(self) -> dict[str, Any]:
        """As stored and as the seed's `policy` field reads."""
        out: dict[str, Any] = {"allowed_operations": list(self.allowed_operations)}
        if self.auto_rotate_days is not None:
            out["auto_rotate_days"] = self.auto_rotate_days
        if self.allowed_principals:
            out["allowed_principals"] = list(self.allowed_principals)
        if self.re_encryption_window_days is not None:
            out["re_encryption_window_days"] = self.re_encryption_window_days
        if self.allowed_purposes:
            out["allowed_purposes"] = list(self.allowed_purposes)
        if self.rate_limits:
            out["rate_limits"] = {category: f"{window.limit}/{window.window_s}"
                                  for category, window in sorted(self.rate_limits.items())}
        return out

    @classmethod
    def from_stored(cls, value: dict[str, Any] | None) -> Policy:
        """A policy as `to_json` stored it (checked when it was parsed, not again)."""
        if not value:
            return cls()
        return cls(
            auto_rotate_days=value.get("auto_rotate_days") or None,
            allowed_operations=tuple(value.get("allowed_operations", OPERATIONS)),
            allowed_principals=tuple(value.get("allowed_principals", ())),
            re_encryption_window_days=value.get("re_encryption_window_days"),
            allowed_purposes=tuple(value.get("allowed_purposes", ())),
            rate_limits=rate_limits_from_stored(value.get("rate_limits")),
        )

    def allows(self, operation: str) -> bool:
        return operation in self.allowed_operations


def rate_limits_from_stored(value: Mapping[str, str] | None) -> dict[str, FixedWindow]:
    """`policy.rate_limits` as `Policy.to_json` stored it: {category: "LIMIT/WINDOW_S"}."""
    out = {}
    for category, spelled in (value or {}).items():
        limit, _, window_s = spelled.partition("/")
        out[category] = FixedWindow(int(limit), int(window_s))
    return out


@dataclasses.dataclass(frozen=True)
class CreateCifer:
    name: str
    description: str
    metadata: dict[str, str]
    policy: Policy
    algorithm: str  # a suite name
    aead: str = "AES-256-GCM"  # the payload AEAD of its envelopes (`cifer.crypto.suites.AEADS`)
    expires_at: datetime.datetime | None = None  # after it: no more encryptions; decryptions go on


@dataclasses.dataclass(frozen=True)
class UpdateCifer:
    """CIFER's update: None leaves a field as it is; `metadata` and `policy`, when given, replace
    the whole map or policy."""

    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    policy: Policy | None = None


@dataclasses.dataclass(frozen=True)
class RotateCifer:
    reason: str
    re_encryption_window_days: int | None
    """None: the cifer's `policy.re_encryption_window_days`, else the service's default."""


@dataclasses.dataclass(frozen=True)
class Statistics:
    total_encryptions: int  # as the sidecars reported them (usage.py); a public-key fetch is not one
    total_decryptions: int
    failed_decryptions: int
    last_used_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class CiferRecord:
    """A cifer as its owner sees it."""

    cifer_id: str
    name: str
    description: str
    status: str  # active | revoked
    created_at: datetime.datetime
    updated_at: datetime.datetime
    owner_id: str
    key_version: int
    key_algorithm: str
    metadata: dict[str, str]
    policy: Policy
    statistics: Statistics
    next_rotation_at: datetime.datetime | None
    aead: str = "AES-256-GCM"
    expires_at: datetime.datetime | None = None
    encapsulation_key: bytes | None = None
    """The current version's public key (DER), where it was read: not in a list, not once revoked."""
    key_created_at: datetime.datetime | None = None
    """When the current version was made, beside `encapsulation_key`."""


@dataclasses.dataclass(frozen=True)
class Rotation:
    cifer_id: str
    old_key_version: int
    new_key_version: int
    new_encapsulation_key: bytes  # DER
    initiated_at: datetime.datetime
    re_encryption_deadline: datetime.datetime


@dataclasses.dataclass(frozen=True)
class PublicKey:
    cifer_id: str
    encapsulation_key: bytes  # DER
    key_version: int
    algorithm: str
    valid_until: datetime.datetime | None  # the next scheduled rotation
    aead: str = "AES-256-GCM"
    expires_at: datetime.datetime | None = None  # the sidecar refuses to encrypt to it after this


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    """Cursor pagination, Stripe's way: ordered by id, the next cursor is the last id seen."""

    items: list[T]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[Any], limit: int, *, key: Callable[[Any], str],
           record: Callable[[Any], T]) -> Page[T]:
        """`rows`: up to `limit + 1` rows by id; one more than `limit` means there are more."""
        page = rows[:limit]
        has_more = len(rows) > limit
        return cls([record(row) for row in page], has_more, key(page[-1]) if has_more else None)
