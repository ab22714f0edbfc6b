"""Seed 001's encryption audit (`GET /api/security/audit/encryption`): the audit log's records of
keys and data, filtered, paged and counted in the database (docs/security-api.md, "Audit").

It shows the records of these operations, under the seed's names: `encrypt` and `decrypt`
(sidecars' reports and key releases), `create` (`key_generate`), `rotate` (`key_rotate`, the
scheduler's included) and `revoke` (`key_revoke`). Other records (API keys, webhooks, reads)
stay in `GET /v1/audit`.

Filters: `userId` matches a record naming that user (seed 001's decrypts and encrypts carry it)
and, for a record naming none, a record of a key generated for that user; `dataType` a record
naming that data type; `compliance` a record of a key whose `regulatoryRequirement` names that
regulation. The summary is counted by the database over every matching record, in operations
(`activity.OPERATIONS`: an aggregated encrypt record counts its `count`).

The page's records are checked against the chain (`AuditLog.verify_records`): each record's MAC,
the hash of the record before it, and the head. `auditChain.verified` says whether they hold."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.api.errors import ErrorCode
from cifer.api.timestamps import iso
from cifer.dataprotection import compliance
from cifer.dataprotection.keytypes import KEY_TYPES, key_name
from cifer_keyservice import activity
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.db.models import AuditRecord, Cifer, SecurityAlert

SEED_OPERATIONS = {"create": "key_generate", "rotate": "key_rotate", "revoke": "key_revoke",
                   "encrypt": "encrypt", "decrypt": "decrypt"}
QUERY_OPERATIONS = ("encrypt", "decrypt", "rotate", "revoke")  # the seed's `operation` filter
COMPLIANCE = ("HIPAA", "GDPR", "CCPA")  # the seed's `compliance` filter
MAX_LIMIT = 200


@dataclasses.dataclass(frozen=True)
class EncryptionAuditFilter:
    start: datetime.datetime
    end: datetime.datetime  # exclusive
    user_id: str | None = None
    key_id: str | None = None
    operation: str | None = None  # one of QUERY_OPERATIONS
    data_type: str | None = None
    regulation: str | None = None  # one of COMPLIANCE


def _error_message(code: str | None) -> str | None:
    try:
        return ErrorCode[code].default_message if code else None
    except KeyError:
        return None


def entry_view(record: AuditRecord, key: Cifer | None, retention: str) -> dict[str, Any]:
    """One record as seed 001's EncryptionAuditEntry; what the record does not know is null."""
    details, metadata = record.details or {}, (key.metadata_ if key is not None else {})
    failed = record.outcome != "success"
    extra = {name: details[name] for name in ("count", "purpose", "window", "stage", "message_id", "report_id")
             if name in details}
    return {
        "id": str(record.seq), "timestamp": iso(record.at), "operation": SEED_OPERATIONS[record.operation],
        "userId": details.get("user_id") or metadata.get("userId"), "keyId": record.cifer_id,
        "keyVersion": None if record.key_version is None else str(record.key_version),
        "dataType": details.get("data_type"),
        "dataClassification": metadata.get("dataClassification") or "unclassified",
        "result": "failure" if failed else "success",
        "ipAddress": record.source or None, "userAgent": details.get("user_agent"), "sessionId": None,
        "operationDuration": details.get("duration_ms"),
        "dataSize": details.get("bytes") if record.operation == "encrypt" else None,
        "regulations": compliance.regulations(metadata.get("regulatoryRequirement")),
        "auditRequired": True, "retentionPeriod": retention,
        **({"errorCode": details.get("error"), "errorMessage": _error_message(details.get("error"))} if failed else {}),
        "principal": record.principal,
        "metadata": {"outcome": record.outcome, "requestId": record.request_id, "hash": record.hash, **extra},
    }


class EncryptionAudit:
    def __init__(self, readers: async_sessionmaker, audit: AuditLog) -> None:
        self._readers = readers
        self._audit = audit

    async def _regulated(self, session, regulation: str) -> list[str]:
        rows = (await session.execute(select(Cifer.id, Cifer.metadata_).where(
            Cifer.metadata_["regulatoryRequirement"].as_string().is_not(None)))).all()
        return [cifer_id for cifer_id, metadata in rows
                if regulation in compliance.regulations(metadata.get("regulatoryRequirement"))]

    async def page(self, where: EncryptionAuditFilter, *, page: int, limit: int, retention: str) -> dict[str, Any]:
        conditions = [AuditRecord.at >= where.start, AuditRecord.at < where.end,
                      AuditRecord.operation.in_([where.operation] if where.operation else SEED_OPERATIONS)]
        if where.key_id is not None:
            conditions.append(AuditRecord.cifer_id == where.key_id)
        if where.data_type is not None:  # with a user, the user's index must lead: this form cannot use its own
            data_type = activity.DATA_TYPE if where.user_id is None else func.coalesce(activity.DATA_TYPE, "")
            conditions.append(data_type == where.data_type)
        async with self._readers() as session:
            if where.user_id is not None:
                names = [key_name(key_type, where.user_id) for key_type in KEY_TYPES]
                conditions.append(or_(activity.USER_ID == where.user_id, and_(
                    activity.USER_ID.is_(None), AuditRecord.cifer_id.in_(select(Cifer.id).where(Cifer.name.in_(names))))))
            if where.regulation is not None:
                conditions.append(AuditRecord.cifer_id.in_(await self._regulated(session, where.regulation)))
            # One pass for every count: records, and operations by operation and by result.
            counted = (await session.execute(
                select(AuditRecord.operation, func.count(), func.sum(activity.OPERATIONS), func.sum(activity.FAILURES),
                       func.sum(activity.DENIED)).where(*conditions).group_by(AuditRecord.operation))).all()
            total = sum(count for _, count, _, _, _ in counted)
            breakdown = {SEED_OPERATIONS[operation]: int(operations or 0) for operation, _, operations, _, _ in counted}
            failures = sum(int(failed or 0) for _, _, _, failed, _ in counted)
            denied = sum(int(refused or 0) for _, _, _, _, refused in counted)
            records = (await session.execute(
                select(AuditRecord).where(*conditions).order_by(AuditRecord.seq.desc())
                .offset((page - 1) * limit).limit(limit))).scalars().all()
            keys = {key.id: key for key in (await session.execute(
                select(Cifer).where(Cifer.id.in_({r.cifer_id for r in records if r.cifer_id})))).scalars()}
            alerts = select(SecurityAlert.detector, func.count()).where(
                SecurityAlert.created_at >= where.start, SecurityAlert.created_at < where.end)
            if where.key_id is not None:
                alerts = alerts.where(SecurityAlert.cifer_id == where.key_id)
            by_detector = dict((await session.execute(alerts.group_by(SecurityAlert.detector))).all())
        verified, problem = await self._audit.verify_records(self._readers, records)
        return {
            "auditLogs": [entry_view(record, keys.get(record.cifer_id), retention) for record in records],
            "pagination": {"page": page, "limit": limit, "total": total, "totalPages": (total + limit - 1) // limit},
            "summary": {
                "totalOperations": sum(breakdown.values()), "operationBreakdown": breakdown,
                "complianceAlerts": by_detector.get("rotation_overdue", 0),
                "securityIncidents": sum(n for d, n in by_detector.items() if d != "rotation_overdue"),
                "resultBreakdown": {"success": sum(breakdown.values()) - failures, "failure": failures - denied,
                                    "denied": denied},
            },
            "auditChain": {"verified": verified, "checkedRecords": len(records), "problem": problem or None},
        }
