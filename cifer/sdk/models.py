"""What the SDK returns: the `data` of each answer parsed once into typed, frozen objects.

Base64 fields become bytes and timestamps aware datetimes here, at the edge. Each object keeps
the answer's `data` as `raw` too, so fields a newer server adds are not lost (the CLI's
`-o json` prints it).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
from collections.abc import Iterator, Mapping
from typing import Any

from cifer.sdk.errors import INVALID_RESPONSE, CiferError

_RAW = dataclasses.field(default_factory=dict, repr=False, compare=False)


def invalid_response(what: str) -> CiferError:
    return CiferError(f"the server's answer is malformed: {what}", code=INVALID_RESPONSE)


def b64decode(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise invalid_response(f"{field} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_response(f"{field} is not valid base64") from None


def _optional_b64(value: Any, field: str) -> bytes | None:
    return None if value is None else b64decode(value, field)


def timestamp(value: Any) -> datetime.datetime | None:
    """The seed's `2026-01-08T10:30:00Z`; None when absent or unreadable (informational fields)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return dict(value) if isinstance(value, dict) else {}


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = _str(data, key)
    if value is None:
        raise invalid_response(f"{key} is missing")
    return value


@dataclasses.dataclass(frozen=True)
class Cifer:
    """A CIFER encryption identity (seed §4.1 and §4.2). `id` is the answer's `cifer_id`."""

    id: str
    name: str | None = None
    description: str | None = None
    status: str | None = None
    owner_id: str | None = None
    key_version: int | None = None
    key_algorithm: str | None = None
    encapsulation_key: bytes | None = None  # DER SubjectPublicKeyInfo; only create returns it
    created_at: datetime.datetime | None = None
    updated_at: datetime.datetime | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    policy: dict[str, Any] = dataclasses.field(default_factory=dict)
    statistics: dict[str, Any] = dataclasses.field(default_factory=dict)
    next_rotation_at: datetime.datetime | None = None  # get only: the next scheduled rotation
    key_created_at: datetime.datetime | None = None  # get only: when the current version was made
    raw: dict[str, Any] = _RAW

    @property
    def cifer_id(self) -> str:
        return self.id

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Cifer:
        return cls(
            id=_required_str(data, "cifer_id"), name=_str(data, "name"), description=_str(data, "description"),
            status=_str(data, "status"), owner_id=_str(data, "owner_id"), key_version=_int(data, "key_version"),
            key_algorithm=_str(data, "key_algorithm"),
            encapsulation_key=_optional_b64(data.get("encapsulation_key"), "encapsulation_key"),
            created_at=timestamp(data.get("created_at")), updated_at=timestamp(data.get("updated_at")),
            metadata=_dict(data, "metadata"), policy=_dict(data, "policy"), statistics=_dict(data, "statistics"),
            next_rotation_at=timestamp(data.get("next_rotation_at")), key_created_at=timestamp(data.get("key_created_at")),
            raw=dict(data),
        )


@dataclasses.dataclass(frozen=True)
class CiferPage:
    """One page of `GET /v1/cifers`; pass `next_cursor` as `cursor` for the next."""

    cifers: list[Cifer]
    has_more: bool
    next_cursor: str | None
    raw: dict[str, Any] = _RAW

    def __iter__(self) -> Iterator[Cifer]:
        return iter(self.cifers)

    def __len__(self) -> int:
        return len(self.cifers)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CiferPage:
        items = data.get("cifers")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise invalid_response("cifers is not a list of objects")
        return cls(cifers=[Cifer.from_api(item) for item in items], has_more=data.get("has_more") is True,
                   next_cursor=_str(data, "next_cursor"), raw=dict(data))


@dataclasses.dataclass(frozen=True)
class Rotation:
    """The answer to a rotation (seed §4.5): the old version decrypts until the deadline."""

    cifer_id: str
    old_key_version: int | None
    new_key_version: int | None
    new_encapsulation_key: bytes | None
    rotation_initiated_at: datetime.datetime | None
    re_encryption_deadline: datetime.datetime | None
    raw: dict[str, Any] = _RAW

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Rotation:
        return cls(
            cifer_id=_required_str(data, "cifer_id"), old_key_version=_int(data, "old_key_version"),
            new_key_version=_int(data, "new_key_version"),
            new_encapsulation_key=_optional_b64(data.get("new_encapsulation_key"), "new_encapsulation_key"),
            rotation_initiated_at=timestamp(data.get("rotation_initiated_at")),
            re_encryption_deadline=timestamp(data.get("re_encryption_deadline")), raw=dict(data),
        )


@dataclasses.dataclass(frozen=True)
class Revocation:
    """The answer to a revocation (seed §4.6)."""

    cifer_id: str
    status: str | None
    revoked_at: datetime.datetime | None
    warning: str | None
    raw: dict[str, Any] = _RAW

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Revocation:
        return cls(cifer_id=_required_str(data, "cifer_id"), status=_str(data, "status"),
                   revoked_at=timestamp(data.get("revoked_at")), warning=_str(data, "warning"), raw=dict(data))


@dataclasses.dataclass(frozen=True)
class PublicKey:
    """A CIFER's current public key (seed §4.7): all one needs to encrypt to it."""

    cifer_id: str
    encapsulation_key: bytes  # DER SubjectPublicKeyInfo
    key_version: int | None
    algorithm: str | None
    valid_until: datetime.datetime | None
    raw: dict[str, Any] = _RAW

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PublicKey:
        return cls(cifer_id=_required_str(data, "cifer_id"),
                   encapsulation_key=b64decode(data.get("encapsulation_key"), "encapsulation_key"),
                   key_version=_int(data, "key_version"), algorithm=_str(data, "algorithm"),
                   valid_until=timestamp(data.get("valid_until")), raw=dict(data))


@dataclasses.dataclass(frozen=True)
class Algorithm:
    kem: str | None
    aead: str | None


@dataclasses.dataclass(frozen=True)
class EncryptResult:
    """Seed §4.3. `ciphertext` is the raw envelope (the API sends it base64; it is decoded here)."""

    ciphertext: bytes = dataclasses.field(repr=False)
    envelope_size: int
    algorithm: Algorithm
    metadata: dict[str, Any]
    cifer_id: str | None = None
    key_version: int | None = None
    raw: dict[str, Any] = _RAW

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EncryptResult:
        if data.get("encoding", "base64") != "base64":
            raise invalid_response("ciphertext encoding is not base64")
        ciphertext = b64decode(data.get("ciphertext"), "ciphertext")
        algorithm = _dict(data, "algorithm")
        size = _int(data, "envelope_size")
        return cls(ciphertext=ciphertext, envelope_size=len(ciphertext) if size is None else size,
                   algorithm=Algorithm(kem=_str(algorithm, "kem"), aead=_str(algorithm, "aead")),
                   metadata=_dict(data, "metadata"), cifer_id=_str(data, "cifer_id"),
                   key_version=_int(data, "key_version"), raw=dict(data))


@dataclasses.dataclass(frozen=True)
class DecryptResult:
    """Seed §4.4: the plaintext, and which key version of which CIFER opened it."""

    plaintext: bytes = dataclasses.field(repr=False)
    cifer_id: str | None = None
    key_version: int | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> DecryptResult:
        if data.get("encoding", "base64") != "base64":
            raise invalid_response("plaintext encoding is not base64")
        # `raw` is left out on purpose: it would hold the plaintext a second time.
        return cls(plaintext=b64decode(data.get("plaintext"), "plaintext"), cifer_id=_str(data, "cifer_id"),
                   key_version=_int(data, "key_version"), metadata=_dict(data, "metadata"))


@dataclasses.dataclass(frozen=True)
class Webhook:
    """A registered webhook endpoint (seed §7.4). Its secret is never returned."""

    id: str
    url: str | None
    events: list[str]
    created_at: datetime.datetime | None
    cifer_ids: list[str] | None = None
    """Only events about these CIFERs are delivered; None: about every CIFER of the owner."""
    raw: dict[str, Any] = _RAW

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Webhook:
        events, cifer_ids = data.get("events"), data.get("cifer_ids")
        return cls(id=_required_str(data, "id"), url=_str(data, "url"),
                   events=[e for e in events if isinstance(e, str)] if isinstance(events, list) else [],
                   created_at=timestamp(data.get("created_at")),
                   cifer_ids=[c for c in cifer_ids if isinstance(c, str)] if isinstance(cifer_ids, list) else None,
                   raw=dict(data))


@dataclasses.dataclass(frozen=True)
class WebhookPage:
    webhooks: list[Webhook]
    has_more: bool
    next_cursor: str | None
    raw: dict[str, Any] = _RAW

    def __iter__(self) -> Iterator[Webhook]:
        return iter(self.webhooks)

    def __len__(self) -> int:
        return len(self.webhooks)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> WebhookPage:
        items = data.get("webhooks")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise invalid_response("webhooks is not a list of objects")
        return cls(webhooks=[Webhook.from_api(item) for item in items], has_more=data.get("has_more") is True,
                   next_cursor=_str(data, "next_cursor"), raw=dict(data))


@dataclasses.dataclass(frozen=True)
class WebhookDeletion:
    id: str
    deleted: bool
    deleted_at: datetime.datetime | None
    raw: dict[str, Any] = _RAW

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> WebhookDeletion:
        return cls(id=_required_str(data, "id"), deleted=data.get("deleted") is True,
                   deleted_at=timestamp(data.get("deleted_at")), raw=dict(data))


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One event's delivery to one webhook: pending, delivered or failed."""

    event_id: str
    type: str | None
    status: str | None
    attempts: int | None
    created: datetime.datetime | None
    next_attempt_at: datetime.datetime | None
    delivered_at: datetime.datetime | None
    last_error: str | None
    raw: dict[str, Any] = _RAW

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Delivery:
        return cls(event_id=_required_str(data, "event_id"), type=_str(data, "type"), status=_str(data, "status"),
                   attempts=_int(data, "attempts"), created=timestamp(data.get("created")),
                   next_attempt_at=timestamp(data.get("next_attempt_at")),
                   delivered_at=timestamp(data.get("delivered_at")), last_error=_str(data, "last_error"),
                   raw=dict(data))
