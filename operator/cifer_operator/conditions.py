"""Status conditions the Kubernetes way: a list keyed by `type`, `status` True/False/Unknown, a
CamelCase `reason`, a human `message`, and `lastTransitionTime` moved only when `status` flips
(as cert-manager's pkg/api/util/conditions.go does)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from cifer.api.timestamps import iso


def now_iso() -> str:
    return iso(datetime.datetime.now(datetime.UTC))


class Conditions:
    """The conditions of one status patch, built up from the object's current ones."""

    def __init__(self, current: Sequence[Mapping[str, Any]] | None, generation: int | None) -> None:
        self.items = [dict(c) for c in current or ()]
        self._generation = generation

    def set(self, type_: str, status: bool, reason: str, message: str) -> Conditions:
        """Set condition `type_`; its lastTransitionTime moves only when its status flips."""
        value = "True" if status else "False"
        condition = next((c for c in self.items if c.get("type") == type_), None)
        if condition is None:
            condition = {"type": type_}
            self.items.append(condition)
        if condition.get("status") != value:
            condition["lastTransitionTime"] = now_iso()
        condition.update(status=value, reason=reason, message=message[:1024])
        if self._generation is not None:
            condition["observedGeneration"] = self._generation
        return self
