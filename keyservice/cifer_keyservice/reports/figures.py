"""What a security report measures (seed 001's `POST /api/security/reports/generate`), read from the
records: the keys in scope, their operations in the period, the detectors' alerts, and the audit
chain. `reports/findings.py` judges them; docs/security-api.md, "Reports", gives every formula.

The keys in scope are those that existed during the period (made before its end, not revoked
before its start) and match every scope list given: `keyIds`; `userIds` (keys generated for those
users); `dataTypes` (keys whose key type serves one of them); `regulations` (keys whose
`regulatoryRequirement` names one of them). A key's status is judged at the period's end (or now,
if that is later than now)."""

from __future__ import annotations

import dataclasses
import datetime
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, literal, or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.api.timestamps import iso
from cifer.dataprotection import compliance
from cifer.dataprotection.keytypes import DATA_TYPES, KEY_TYPES, key_name
from cifer_keyservice import activity
from cifer_keyservice.chain_watch import Verdict
from cifer_keyservice.db.models import AuditRecord, Cifer, CiferVersion, SecurityAlert, Webhook

LIFECYCLE = ("create", "rotate", "revoke")


@dataclasses.dataclass(frozen=True)
class Scope:
    user_ids: tuple[str, ...] = ()
    key_ids: tuple[str, ...] = ()
    data_types: tuple[str, ...] = ()
    regulations: tuple[str, ...] = ()

    def as_json(self) -> dict[str, list[str]]:
        return {name: list(value) for name, value in (
            ("userIds", self.user_ids), ("keyIds", self.key_ids), ("dataTypes", self.data_types),
            ("regulations", self.regulations)) if value}


@dataclasses.dataclass
class KeyFigures:
    key_id: str
    user_id: str | None
    key_type: str | None
    owner_id: str
    status: str  # active | expired | revoked, at the period's end
    algorithm: str
    created_at: datetime.datetime
    key_version: int
    version_made_at: datetime.datetime
    rotation_due: datetime.datetime | None
    regulations: list[str]
    encrypts: int = 0
    decrypts: int = 0
    failures: int = 0
    denied: int = 0
    bytes: int = 0
    decrypt_ms: float = 0.0
    decrypts_timed: int = 0
    last_used_at: datetime.datetime | None = None
    lifecycle: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def operations(self) -> int:
        return self.encrypts + self.decrypts


@dataclasses.dataclass(frozen=True)
class Figures:
    start: datetime.datetime
    end: datetime.datetime
    as_of: datetime.datetime
    keys: list[KeyFigures]
    alerts: list[SecurityAlert]  # about keys in scope, raised in the period or still open
    chain_intact: bool
    chain_problem: str
    chain_verified_at: datetime.datetime | None  # when the whole log last verified
    alert_webhooks: int  # webhooks subscribed to `security.alert`
    series: dict[str, list[tuple[str, int]]]  # key id -> (day, operations), days with any


def _due(key: Cifer, made: datetime.datetime, interval_days: int | None) -> datetime.datetime | None:
    if key.next_rotation_at is not None:
        return key.next_rotation_at
    return made + datetime.timedelta(days=interval_days) if interval_days else None


def _status(key: Cifer, as_of: datetime.datetime) -> str:
    if key.revoked_at is not None and key.revoked_at <= as_of:
        return "revoked"
    return "expired" if key.expires_at is not None and key.expires_at <= as_of else "active"


async def _keys(session, start: datetime.datetime, end: datetime.datetime, scope: Scope, as_of: datetime.datetime,
                interval_days: int | None) -> list[KeyFigures]:
    wanted = (select(Cifer, CiferVersion.created_at)
              .join(CiferVersion, (CiferVersion.cifer_id == Cifer.id) & (CiferVersion.version == Cifer.current_version))
              .where(Cifer.created_at < end, or_(Cifer.revoked_at.is_(None), Cifer.revoked_at >= start))
              .order_by(Cifer.created_at, Cifer.id))
    if scope.key_ids:
        wanted = wanted.where(Cifer.id.in_(scope.key_ids))
    if scope.user_ids:
        wanted = wanted.where(Cifer.name.in_([key_name(t, u) for t in KEY_TYPES for u in scope.user_ids]))
    key_types = {DATA_TYPES[data_type] for data_type in scope.data_types}
    found = []
    for key, made in (await session.execute(wanted)).all():
        metadata = key.metadata_ or {}
        regulations = compliance.regulations(metadata.get("regulatoryRequirement"))
        if key_types and metadata.get("keyType") not in key_types:
            continue
        if scope.regulations and not set(scope.regulations) & set(regulations):
            continue
        found.append(KeyFigures(
            key_id=key.id, user_id=metadata.get("userId"), key_type=metadata.get("keyType"), owner_id=key.owner_id,
            status=_status(key, as_of), algorithm=key.aead, created_at=key.created_at, key_version=key.current_version,
            version_made_at=made, rotation_due=_due(key, made, interval_days), regulations=regulations))
    return found


def _in_scope(column, keys: list[KeyFigures], every_key: bool):
    """No condition when the scope is every key (a list of thousands of ids helps no planner)."""
    return [] if every_key else [column.in_([k.key_id for k in keys])]


async def gather(readers: async_sessionmaker, chain: Verdict, *, start: datetime.datetime, end: datetime.datetime,
                 scope: Scope, now: datetime.datetime, interval_days: int | None, with_series: bool) -> Figures:
    """`chain`: the audit chain's state, from the service's watch (chain_watch.py)."""
    as_of = min(end, now)
    every_key = scope == Scope()
    async with readers() as session:
        keys = await _keys(session, start, end, scope, as_of, interval_days)
        by_id = {key.key_id: key for key in keys}
        in_period = [AuditRecord.at >= start, AuditRecord.at < end, *_in_scope(AuditRecord.cifer_id, keys, every_key)]
        # One pass over the period's records: per key and operation, and per day too for a PDF's charts.
        day = activity.bucket_of(activity.DAY, activity.dialect_of(readers)) if with_series else literal("")
        rows = (await session.execute(
            select(AuditRecord.cifer_id, AuditRecord.operation, day, func.sum(activity.OPERATIONS),
                   func.sum(activity.FAILURES), func.sum(activity.DENIED), func.sum(activity.BYTES),
                   func.sum(activity.DURATION_MS), func.count(activity.DURATION_MS), func.max(AuditRecord.at))
            .where(*in_period, AuditRecord.operation.in_([*activity.USAGE_OPERATIONS, *LIFECYCLE]))
            .group_by(AuditRecord.cifer_id, AuditRecord.operation, day))).all()
        alerts = list((await session.execute(
            select(SecurityAlert).where(
                ((SecurityAlert.created_at >= start) & (SecurityAlert.created_at < end))
                | SecurityAlert.open_key.is_not(None), *_in_scope(SecurityAlert.cifer_id, keys, every_key))
            .order_by(SecurityAlert.created_at))).scalars())
        hooks = (await session.execute(select(Webhook.events).where(Webhook.deleted_at.is_(None)))).scalars().all()
    daily: dict[str, Counter] = defaultdict(Counter)
    for key_id, operation, label, operations, failures, denied, sealed, duration, timed, last in rows:
        key = by_id.get(key_id)
        if key is None:
            continue
        if operation in LIFECYCLE:
            key.lifecycle[operation] = key.lifecycle.get(operation, 0) + int(operations or 0)
            continue
        if with_series:
            daily[key_id][label] += int(operations or 0)
        if operation == "encrypt":
            key.encrypts += int(operations or 0)
        else:
            key.decrypts += int(operations or 0)
            key.decrypt_ms += float(duration or 0.0)
            key.decrypts_timed += int(timed or 0)
        key.failures += int(failures or 0)
        key.denied += int(denied or 0)
        key.bytes += int(sealed or 0)
        key.last_used_at = last if key.last_used_at is None else max(key.last_used_at, last)
    return Figures(start=start, end=end, as_of=as_of, keys=keys, alerts=[a for a in alerts if a.cifer_id in by_id],
                   chain_intact=chain.intact, chain_problem=chain.problem, chain_verified_at=chain.full_pass_at,
                   series={key_id: sorted(days.items()) for key_id, days in daily.items()},
                   alert_webhooks=sum(1 for events in hooks if "security.alert" in (events or [])))


def key_row(key: KeyFigures) -> dict[str, Any]:
    """A key as the CSV and the PDF list it (reports/render_csv.py)."""
    return {
        "keyId": key.key_id, "userId": key.user_id, "keyType": key.key_type, "status": key.status,
        "algorithm": key.algorithm, "createdAt": iso(key.created_at), "keyVersion": str(key.key_version),
        "rotationDue": iso(key.rotation_due), "encryptOperations": key.encrypts, "decryptOperations": key.decrypts,
        "failedOperations": key.failures, "unauthorizedOperations": key.denied, "dataVolume": key.bytes,
        "lastUsedAt": iso(key.last_used_at),
    }
