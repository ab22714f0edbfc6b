"""Seed 001's encryption configuration (`PUT`/`GET /api/security/config/encryption`;
docs/security-api.md, "Configuration"): validated setting by setting, applied at once where the
service can honour it, refused where it cannot, persisted in one row (`security_config`) and
audited (`config.update`).

What each setting governs once applied:
- `defaultAlgorithm`: the payload AEAD of keys made without one (`/api/security/keys/generate`
  without `algorithm`, `POST /v1/cifers`);
- `keyRotationPolicy`: `intervalDays` (when `enabled`) is when a key without a scheduled rotation
  falls due (the detectors, the reports); `automaticRotation` gives new keys that
  `auto_rotate_days`, so the scheduler rotates them; `gracePeriodDays` is seed 001's rotation
  default;
- `complianceSettings.retainAuditLogs`: audit records older than that many days are pruned
  (`audit_retention.py`), the chain kept verifiable; `regulations` are recorded;
- `performanceSettings`: `batchSize` bounds the headers of one decapsulation (at most the
  service's `max_batch_headers`), `cacheSize` and `cacheTTL` the cache of unwrapped private seeds,
  `maxConcurrentOperations` the decapsulations processed at once (more wait their turn).

Refused (`valid: false`, nothing changes): AES-256-CBC (no integrity); a `keyManagement.provider`
other than the KEK this service really has (a cloud KMS is not configured here); `fipsMode`
(no FIPS 140 validated module holds the KEK); turning `auditAllOperations` off (every key release
is audited, and that cannot be turned off); values outside their bounds.

Each replica reads the row at start and again at every detector scan (`--alert-scan-interval-s`,
a minute), so a change reaches every replica within that long; the one that took the PUT applies
it at once."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer.api.parsing import invalid, refuse_unknown
from cifer.api.security_schemas import DEFAULT_GRACE_PERIOD_DAYS
from cifer.dataprotection.compliance import REGULATIONS
from cifer_keyservice.audit import AuditLog
from cifer_keyservice.cifers import Caller
from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import Cifer, CiferVersion, SecurityConfig

ALGORITHMS = ("AES-256-GCM", "AES-256-CBC", "ChaCha20-Poly1305")
CLOUD_PROVIDERS = ("aws-kms", "azure-key-vault", "google-cloud-kms")
MAX_RETENTION_DAYS = 36500
MIN_RETENTION_BY_REGULATION = {"HIPAA": 2190, "SOX": 2555, "PCI DSS": 365}  # days: 6 years, 7 years, 1 year
MAX_CACHE_SIZE = 100_000
MAX_CACHE_TTL_S = 86_400
MAX_CONCURRENCY = 10_000
NEVER_SET = "cfg_default"  # the configId of the defaults, before any change
NO_IMPACT = {"affectedKeys": 0, "affectedUsers": 0, "migrationRequired": False, "estimatedDowntime": 0,
             "keysOnOtherAlgorithms": 0}  # a refused change's: nothing changed
SECTIONS = {
    "keyRotationPolicy": ("enabled", "intervalDays", "gracePeriodDays", "automaticRotation"),
    "keyManagement": ("provider", "region", "keySpec", "keyUsage"),
    "complianceSettings": ("fipsMode", "auditAllOperations", "retainAuditLogs", "regulations"),
    "performanceSettings": ("batchSize", "cacheSize", "cacheTTL", "maxConcurrentOperations"),
}


def defaults(*, batch_size: int, cache_size: int, cache_ttl_s: float) -> dict[str, Any]:
    """The configuration before anyone sets it: the service's own settings."""
    return {
        "defaultAlgorithm": "AES-256-GCM",
        "keyRotationPolicy": {"enabled": True, "intervalDays": 90, "gracePeriodDays": DEFAULT_GRACE_PERIOD_DAYS,
                              "automaticRotation": False},
        "complianceSettings": {"fipsMode": False, "auditAllOperations": True, "retainAuditLogs": None,
                               "regulations": []},
        "performanceSettings": {"batchSize": batch_size, "cacheSize": cache_size, "cacheTTL": int(cache_ttl_s),
                                "maxConcurrentOperations": 256},
    }


@dataclasses.dataclass(frozen=True)
class Config:
    config_id: str | None  # None: never set
    settings: dict[str, Any]
    updated_at: datetime.datetime | None = None
    updated_by: str | None = None

    @property
    def rotation_interval_days(self) -> int | None:
        """How long after its current version was made a key is due for rotation; None: no policy."""
        policy = self.settings["keyRotationPolicy"]
        return policy["intervalDays"] if policy["enabled"] else None

    @property
    def auto_rotate_days(self) -> int | None:
        """What new keys get as `auto_rotate_days`: the interval, when rotation is automatic."""
        policy = self.settings["keyRotationPolicy"]
        return policy["intervalDays"] if policy["enabled"] and policy["automaticRotation"] else None

    @property
    def retention_days(self) -> int | None:
        return self.settings["complianceSettings"]["retainAuditLogs"]

    @property
    def retention_period(self) -> str:
        """The audit records' retention as ISO 8601 (`P2190D`), or `indefinite`."""
        days = self.retention_days
        return "indefinite" if days is None else f"P{days}D"

    def performance(self, name: str) -> int:
        return self.settings["performanceSettings"][name]


@dataclasses.dataclass
class Check:
    """One setting's ConfigValidationResult."""

    setting: str
    valid: bool = True
    warning: str | None = None
    error: str | None = None
    recommendation: str | None = None

    def view(self) -> dict[str, Any]:
        return {"setting": self.setting, "valid": self.valid,
                **{name: getattr(self, name) for name in ("warning", "error", "recommendation")
                   if getattr(self, name) is not None}}


def _typed(section: str, body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body[name]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise invalid(f"{section}.{name}", f"must be a {'boolean' if kind is bool else 'number' if kind is int else 'string'}"
                      if kind in (bool, int, str) else "has the wrong type")
    return value


def parsed(body: dict[str, Any]) -> dict[str, dict[str, Any] | str]:
    """The request's shape checked (400 naming the field); its values are judged by `judge`."""
    refuse_unknown(body, {"defaultAlgorithm", *SECTIONS})
    out: dict[str, Any] = {}
    if "defaultAlgorithm" in body:
        if body["defaultAlgorithm"] not in ALGORITHMS:
            raise invalid("defaultAlgorithm", f"must be one of {', '.join(ALGORITHMS)}")
        out["defaultAlgorithm"] = body["defaultAlgorithm"]
    kinds = {"enabled": bool, "automaticRotation": bool, "fipsMode": bool, "auditAllOperations": bool,
             "provider": str, "region": str, "keySpec": str, "keyUsage": str, "regulations": list}
    for section, fields in SECTIONS.items():
        if section not in body:
            continue
        given = body[section]
        if not isinstance(given, dict):
            raise invalid(section, "must be an object")
        refuse_unknown(given, fields, f"{section}.")
        values = {}
        for name in given:
            value = _typed(section, given, name, kinds.get(name, int))
            if isinstance(value, str) and len(value) > 255:
                raise invalid(f"{section}.{name}", "must be at most 255 characters")
            if name == "regulations" and (len(value) > 32 or not all(isinstance(v, str) and len(v) <= 255
                                                                     for v in value)):
                raise invalid(f"{section}.{name}", "must be a list of at most 32 names of at most 255 characters")
            values[name] = value
        out[section] = values
    return out


def judge(change: dict[str, Any], current: Config, *, kek_provider: str, max_batch: int) -> tuple[dict[str, Any], list[Check]]:
    """The configuration the change would make, and a Check per setting it names."""
    new = copy.deepcopy(current.settings)
    checks: list[Check] = []
    if "defaultAlgorithm" in change:
        algorithm, check = change["defaultAlgorithm"], Check("defaultAlgorithm")
        if algorithm == "AES-256-CBC":
            check.valid, check.error = False, "AES-256-CBC has no integrity: a changed ciphertext decrypts unnoticed"
            check.recommendation = "AES-256-GCM"
        elif algorithm == "ChaCha20-Poly1305":
            check.warning = "ChaCha20-Poly1305 is sound but not NIST-approved: FIPS deployments need AES-256-GCM"
            check.recommendation = "AES-256-GCM"
        new["defaultAlgorithm"] = algorithm
        checks.append(check)
    for name, value in change.get("keyRotationPolicy", {}).items():
        check = Check(f"keyRotationPolicy.{name}")
        if name == "intervalDays":
            if not 1 <= value <= 3650:
                check.valid, check.error = False, "must be 1 to 3650 days"
            elif value > 365:
                check.warning = "NIST SP 800-57 suggests a cryptoperiod of at most one to two years for data keys"
                check.recommendation = "90"
        elif name == "gracePeriodDays" and not 0 <= value <= 365:
            check.valid, check.error = False, "must be 0 to 365 days"
        elif name == "enabled" and not value:
            check.warning = "no key falls due for rotation: the overdue-rotation detector and findings go quiet"
            check.recommendation = "true"
        new["keyRotationPolicy"][name] = value
        checks.append(check)
    for name, value in change.get("keyManagement", {}).items():
        check = Check(f"keyManagement.{name}")
        if name == "provider" and value != kek_provider:
            check.valid = False
            check.error = (f"{value} is not configured: this key service's KEK is {kek_provider}"
                           + (" (a cloud KMS would need its own KEK driver)" if value in CLOUD_PROVIDERS else ""))
        elif name != "provider":
            check.warning = f"not used: the {kek_provider} KEK has no {name}"
        checks.append(check)
    compliance = change.get("complianceSettings", {})
    for name, value in compliance.items():
        check = Check(f"complianceSettings.{name}")
        if name == "fipsMode" and value:
            check.valid, check.error = False, "no FIPS 140 validated module holds this service's KEK"
        elif name == "auditAllOperations" and not value:
            check.valid, check.error = False, "every key release is audited; that cannot be turned off"
        elif name == "retainAuditLogs":
            if not 1 <= value <= MAX_RETENTION_DAYS:
                check.valid, check.error = False, f"must be 1 to {MAX_RETENTION_DAYS} days"
            else:
                regulations = compliance.get("regulations", new["complianceSettings"]["regulations"])
                short = {r: d for r, d in MIN_RETENTION_BY_REGULATION.items() if r in regulations and value < d}
                if short:
                    check.warning = "shorter than " + ", ".join(f"{r}'s {d} days" for r, d in short.items())
                    check.recommendation = str(max(short.values()))
        elif name == "regulations":
            unknown = [v for v in value if v not in REGULATIONS]
            if unknown:
                check.valid, check.error = False, f"unknown: {', '.join(unknown)}; known: {', '.join(REGULATIONS)}"
        new["complianceSettings"][name] = value
        checks.append(check)
    bounds = {"batchSize": (1, max_batch), "cacheSize": (0, MAX_CACHE_SIZE), "cacheTTL": (0, MAX_CACHE_TTL_S),
              "maxConcurrentOperations": (1, MAX_CONCURRENCY)}
    for name, value in change.get("performanceSettings", {}).items():
        check, (low, high) = Check(f"performanceSettings.{name}"), bounds[name]
        if not low <= value <= high:
            check.valid, check.error = False, f"must be {low} to {high}" + (
                " (the service's --max-batch-headers)" if name == "batchSize" else "")
        elif name in ("cacheSize", "cacheTTL") and value == 0:
            check.warning = "0 turns the seed cache off: every decryption asks the KEK"
        new["performanceSettings"][name] = value
        checks.append(check)
    return new, checks


def changed_settings(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    names = ["defaultAlgorithm"] if old["defaultAlgorithm"] != new["defaultAlgorithm"] else []
    for section in ("keyRotationPolicy", "complianceSettings", "performanceSettings"):
        names += [f"{section}.{name}" for name in new[section] if old[section].get(name) != new[section][name]]
    return names


class SecurityConfigStore:
    def __init__(self, sessions: async_sessionmaker, audit: AuditLog, *, max_batch: int, cache_size: int,
                 cache_ttl_s: float) -> None:
        """`max_batch`: the service's own bound on a decapsulation's headers, which batchSize stays under."""
        self._sessions = sessions
        self._audit = audit
        self.max_batch = max_batch
        self._defaults = defaults(batch_size=max_batch, cache_size=cache_size, cache_ttl_s=cache_ttl_s)
        self.cached = Config(None, copy.deepcopy(defaults))  # what this replica applied last
        self._appliers: list[Callable[[Config], None]] = []

    @property
    def batch_limit(self) -> int:
        """The most headers one decapsulation may carry now."""
        return min(self.cached.performance("batchSize"), self.max_batch)

    def on_apply(self, applier: Callable[[Config], None]) -> None:
        self._appliers.append(applier)

    def _applied(self, config: Config) -> Config:
        self.cached = config
        for applier in self._appliers:
            applier(config)
        return config

    async def current(self) -> Config:
        async with self._sessions() as session:
            row = await session.get(SecurityConfig, 1)
        if row is None:
            return Config(None, copy.deepcopy(self._defaults))
        settings = copy.deepcopy(self._defaults)
        for name, value in row.settings.items():
            settings[name] = {**settings[name], **value} if isinstance(value, dict) else value
        return Config(row.config_id, settings, row.updated_at, row.updated_by)

    async def refresh(self) -> Config:
        """Reads the row and applies it here (at start, and periodically for other replicas' changes)."""
        return self._applied(await self.current())

    async def impact(self, old: Config, new: dict[str, Any], now: datetime.datetime) -> dict[str, Any]:
        """Keys whose due date for rotation changes, and keys sealing with another algorithm than the
        new default (existing keys keep theirs: moving their data is a migration)."""
        before, after = old.rotation_interval_days, Config(None, new).rotation_interval_days
        async with self._sessions() as session:
            keys = (await session.execute(
                select(Cifer.id, Cifer.aead, Cifer.next_rotation_at, Cifer.metadata_, CiferVersion.created_at)
                .join(CiferVersion, (CiferVersion.cifer_id == Cifer.id) & (CiferVersion.version == Cifer.current_version))
                .where(Cifer.status == "active"))).all()
        affected, users, other_algorithm = 0, set(), 0
        for _key_id, aead, scheduled, metadata, made in keys:
            other_algorithm += aead != new["defaultAlgorithm"]
            if scheduled is None and before != after:
                due_before = made + datetime.timedelta(days=before) < now if before else False
                due_after = made + datetime.timedelta(days=after) < now if after else False
                if due_before != due_after:
                    affected += 1
                    users.add((metadata or {}).get("userId"))
        return {"affectedKeys": affected, "affectedUsers": len(users - {None}),
                "migrationRequired": other_algorithm > 0 and old.settings["defaultAlgorithm"] != new["defaultAlgorithm"],
                "estimatedDowntime": 0, "keysOnOtherAlgorithms": other_algorithm}

    async def refused(self, caller: Caller, settings: list[str]) -> None:
        """The audit record of a change refused: who tried to set what."""
        async with self._sessions.begin() as session:
            await self._audit.append(session, caller.entry("config.update", "failure",
                                                           details={"refused": settings}))

    async def update(self, caller: Caller, new: dict[str, Any], changed: list[str]) -> Config:
        """Persists the configuration with its audit record, in one transaction, then applies it here."""
        now, config_id = utcnow(), "cfg_" + secrets.token_hex(12)
        async with self._sessions.begin() as session:
            row = await session.get(SecurityConfig, 1, with_for_update=True)
            if row is None:
                session.add(SecurityConfig(id=1, config_id=config_id, settings=new, updated_at=now,
                                           updated_by=caller.principal.id))
            else:
                row.config_id, row.settings, row.updated_at, row.updated_by = config_id, new, now, caller.principal.id
            await self._audit.append(session, caller.entry(
                "config.update", "success", details={"config_id": config_id, "changed": changed}))
        return self._applied(Config(config_id, new, now, caller.principal.id))
