"""Seed 001's encryption configuration as the service holds it: one row (`security_config`), read
by everything it governs (docs/security-api.md, "Configuration"). Until someone sets it, the
defaults below apply."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.db.models import SecurityConfig

DEFAULTS: dict[str, Any] = {
    "defaultAlgorithm": "AES-256-GCM",
    "keyRotationPolicy": {"enabled": True, "intervalDays": 90, "gracePeriodDays": 30, "automaticRotation": False},
    "complianceSettings": {"fipsMode": False, "auditAllOperations": True, "retainAuditLogs": None, "regulations": []},
}


@dataclasses.dataclass(frozen=True)
class Config:
    config_id: str | None  # None: never set
    settings: dict[str, Any]

    @property
    def rotation_interval_days(self) -> int | None:
        """How long after its current version was made a key is due for rotation; None: no policy."""
        policy = self.settings["keyRotationPolicy"]
        return policy["intervalDays"] if policy["enabled"] else None

    @property
    def retention_days(self) -> int | None:
        return self.settings["complianceSettings"]["retainAuditLogs"]

    @property
    def retention_period(self) -> str:
        """The audit records' retention as ISO 8601 (`P2190D`), or `indefinite`."""
        days = self.retention_days
        return "indefinite" if days is None else f"P{days}D"


class SecurityConfigStore:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def current(self) -> Config:
        async with self._sessions() as session:
            row = await session.get(SecurityConfig, 1)
        if row is None:
            return Config(None, copy.deepcopy(DEFAULTS))
        return Config(row.config_id, {**copy.deepcopy(DEFAULTS), **row.settings})
