"""The usage report (`POST /v1/usage`): what a sidecar did locally, counted per cifer, sent to
the key service in batches. Written here once; the sidecar builds it, the key service parses it.

    {"report_id": "urp_<32 hex>",
     "entries": [{"cifer_id": "cif_...", "encryptions": 3, "encrypted_bytes": 96,
                  "failed_decryptions": 1, "window": {"start": 1767225600, "end": 1767225605}}]}

- `report_id`: chosen by the sidecar when it closes a batch and kept across retries of that batch;
  the key service counts a (principal, report_id) once, so a retry after a lost answer is free.
- The principal is not in the body: a report is the credential's own, as the key service
  authenticated it (the credential the encryptions and the decapsulations were made with).
- `failed_decryptions`: payloads that failed authentication in the sidecar after the key service
  released their data key (a header the key service refused is counted there already).
- `window`: unix seconds, the first and last use counted in the entry.
- `labels` (optional): what seed 001's encryptions said of their data (`data_type`, `user_id`,
  `purpose`), so that its usage figures and audit records name them; entries with other labels
  are other entries.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Mapping
from typing import Any

from cifer.envelope.format import CIFER_ID_RE

MAX_ENTRIES = 1000  # per report: a sidecar splits a bigger batch
MAX_COUNT = 2**40  # per entry and field: far above what 5 s can hold, far below a BIGINT
REPORT_ID_RE = re.compile(r"urp_[0-9a-f]{32}")
FIELDS = ("encryptions", "encrypted_bytes", "failed_decryptions")
LABELS = {"data_type": 32, "user_id": 128, "purpose": 1024}  # the labels an entry may carry, and their bounds
SCHEMA = {"type": "object", "required": ["report_id", "entries"], "additionalProperties": False, "properties": {
    "report_id": {"type": "string", "pattern": f"^{REPORT_ID_RE.pattern}$"},
    "entries": {"type": "array", "minItems": 1, "maxItems": MAX_ENTRIES, "items": {
        "type": "object", "required": ["cifer_id", "window"], "additionalProperties": False, "properties": {
            "cifer_id": {"type": "string", "pattern": f"^{CIFER_ID_RE.pattern}$"},
            **{name: {"type": "integer", "minimum": 0, "maximum": MAX_COUNT} for name in FIELDS},
            "window": {"type": "object", "required": ["start", "end"], "additionalProperties": False,
                       "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}}},
            "labels": {"type": "object", "additionalProperties": False, "properties": {
                name: {"type": "string", "minLength": 1, "maxLength": bound} for name, bound in LABELS.items()}}}}}}}


class InvalidReport(ValueError):
    """A report that does not follow this format; `field` names where."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def new_report_id() -> str:
    return "urp_" + secrets.token_hex(16)


@dataclasses.dataclass(frozen=True)
class Entry:
    cifer_id: str
    encryptions: int
    encrypted_bytes: int
    failed_decryptions: int
    start: int  # unix seconds
    end: int
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {"cifer_id": self.cifer_id, "encryptions": self.encryptions, "encrypted_bytes": self.encrypted_bytes,
               "failed_decryptions": self.failed_decryptions, "window": {"start": self.start, "end": self.end}}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclasses.dataclass(frozen=True)
class Report:
    report_id: str
    entries: tuple[Entry, ...]

    def to_json(self) -> dict[str, Any]:
        return {"report_id": self.report_id, "entries": [entry.to_json() for entry in self.entries]}


def _count(entry: Mapping[str, Any], name: str, where: str) -> int:
    value = entry.get(name, 0)
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise InvalidReport(f"{where}.{name}", f"must be an integer from 0 to {MAX_COUNT}")
    return value


def _entry(raw: object, where: str) -> Entry:
    if not isinstance(raw, dict) or not set(raw) <= {"cifer_id", "window", "labels", *FIELDS}:
        raise InvalidReport(where, "must be an object with cifer_id, window and counts")
    cifer_id = raw.get("cifer_id")
    if not isinstance(cifer_id, str) or not CIFER_ID_RE.fullmatch(cifer_id):
        raise InvalidReport(f"{where}.cifer_id", "must be a cifer id")
    window = raw.get("window")
    if not isinstance(window, dict) or set(window) != {"start", "end"} or not all(
            type(window[k]) is int and 0 <= window[k] < 2**40 for k in ("start", "end")) \
            or window["start"] > window["end"]:
        raise InvalidReport(f"{where}.window", "must be {start, end}: unix seconds, start <= end")
    labels = raw.get("labels", {})
    if not isinstance(labels, dict) or not set(labels) <= set(LABELS) or not all(
            isinstance(value, str) and 0 < len(value) <= LABELS[name] for name, value in labels.items()):
        raise InvalidReport(f"{where}.labels", f"must be an object of {', '.join(LABELS)}: non-empty strings")
    return Entry(cifer_id, *(_count(raw, name, where) for name in FIELDS), window["start"], window["end"], labels)


def parse(body: Mapping[str, Any]) -> Report:
    """The report, checked field by field; InvalidReport naming the first field at fault."""
    if not set(body) <= {"report_id", "entries"}:
        raise InvalidReport("body", "must hold report_id and entries only")
    report_id = body.get("report_id")
    if not isinstance(report_id, str) or not REPORT_ID_RE.fullmatch(report_id):
        raise InvalidReport("report_id", "must be urp_ and 32 lowercase hex digits")
    raw = body.get("entries")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ENTRIES:
        raise InvalidReport("entries", f"must be a list of 1 to {MAX_ENTRIES} entries")
    return Report(report_id, tuple(_entry(item, f"entries[{i}]") for i, item in enumerate(raw)))
