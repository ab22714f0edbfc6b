"""Status conditions the Kubernetes way: a list keyed by `type`, `status` True/False/Unknown, a
CamelCase `reason`, a human `message`, and `lastTransitionTime` moved only when `status` flips
(as cert-manager's pkg/api/util/conditions.go does)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def merged(existing: Sequence[Mapping[str, Any]] | None, type_: str, status: bool, reason: str, message: str, *,
           generation: int | None) -> list[dict[str, Any]]:
    """`existing` with the condition `type_` set; the others kept as they are."""
    value = "True" if status else "False"
    conditions = [dict(c) for c in existing or ()]
    for condition in conditions:
        if condition.get("type") == type_:
            if condition.get("status") != value:
                condition["lastTransitionTime"] = now_iso()
            condition.update(status=value, reason=reason, message=message[:1024])
            if generation is not None:
                condition["observedGeneration"] = generation
            return conditions
    new = {"type": type_, "status": value, "reason": reason, "message": message[:1024],
           "lastTransitionTime": now_iso()}
    if generation is not None:
        new["observedGeneration"] = generation
    return [*conditions, new]


class Conditions:
    """The conditions of one status patch, built up from the object's current ones."""

    def __init__(self, current: Sequence[Mapping[str, Any]] | None, generation: int | None) -> None:
        self.items = [dict(c) for c in current or ()]
        self._generation = generation

    def set(self, type_: str, status: bool, reason: str, message: str) -> Conditions:
        self.items = merged(self.items, type_, status, reason, message, generation=self._generation)
        return self
