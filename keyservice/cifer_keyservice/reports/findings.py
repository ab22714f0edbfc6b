"""A security report's judgement of its figures (reports/figures.py): the executive summary, key
metrics, compliance status, incidents and recommendations of seed 001's SecurityReportResponse.
Nothing here is canned: each finding, incident and recommendation names what it was drawn from.
docs/security-api.md, "Reports", states every rule below.

**complianceScore** (0-100, an integer) is `100 x (0.35 R + 0.20 E + 0.25 O + 0.20 C)`:
- R, rotation: the share of active keys not overdue for rotation (1 with no active key);
- E, expiry: 1 minus the share of keys in scope that are expired and not revoked;
- O, operations: `max(0, 1 - 5 f - 5 u)`, where f is the share of operations that failed and u the
  share refused as unauthorized (so a refusal weighs twice: it is also a failure); 1 with none;
- C, the audit chain: 1 if the whole log verifies, else 0.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from cifer.api.timestamps import iso
from cifer.dataprotection import compliance
from cifer_keyservice import activity
from cifer_keyservice.db.models import SecurityAlert
from cifer_keyservice.reports.figures import Figures, KeyFigures

UNUSED_DAYS = 90  # an active key with no operation for this long is worth a look
INCIDENT_TYPES = {"repeated_failures": "unauthorized_access", "new_principal": "unauthorized_access",
                  "high_volume": "key_compromise", "rotation_overdue": "compliance_violation"}
WEIGHTS = {"rotation": 0.35, "expiry": 0.20, "operations": 0.25, "chain": 0.20}


def _id(prefix: str, *parts: str) -> str:
    """A stable id: the same finding in two reports has the same id."""
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def overdue(key: KeyFigures, as_of: datetime.datetime) -> bool:
    return key.status == "active" and key.rotation_due is not None and key.rotation_due < as_of


def score_parts(figures: Figures) -> dict[str, float]:
    active = [key for key in figures.keys if key.status == "active"]
    operations = sum(key.operations for key in figures.keys)
    failed = sum(key.failures for key in figures.keys) / operations if operations else 0.0
    refused = sum(key.denied for key in figures.keys) / operations if operations else 0.0
    expired = sum(1 for key in figures.keys if key.status == "expired")
    return {
        "rotation": (sum(1 for key in active if not overdue(key, figures.as_of)) / len(active)) if active else 1.0,
        "expiry": 1.0 - (expired / len(figures.keys) if figures.keys else 0.0),
        "operations": max(0.0, 1.0 - 5 * failed - 5 * refused),
        "chain": 1.0 if figures.chain_intact else 0.0,
    }


def compliance_score(figures: Figures) -> int:
    parts = score_parts(figures)
    return round(100 * sum(WEIGHTS[name] * value for name, value in parts.items()))


def audit_findings(figures: Figures) -> list[dict[str, Any]]:
    findings = []
    if not figures.chain_intact:
        findings.append({
            "id": _id("fnd_", "chain", figures.chain_problem), "severity": "critical", "category": "compliance",
            "description": f"The audit log does not verify: {figures.chain_problem}",
            "remediation": ["Run `cifer keyservice audit verify` with the kept checkpoints",
                            "Restore the database from a backup that verifies, and investigate who could write it"]})
    for key in figures.keys:
        if overdue(key, figures.as_of):
            late = (figures.as_of - key.rotation_due).days
            findings.append({
                "id": _id("fnd_", "rotation", key.key_id, str(key.key_version)),
                "severity": "high" if late > 30 else "medium", "category": "key_management",
                "description": f"Key {key.key_id} (version {key.key_version}) was due for rotation on "
                               f"{iso(key.rotation_due)}, {late} days ago",
                **({"regulation": key.regulations[0]} if key.regulations else {}),
                "remediation": [f"POST /api/security/keys/{key.key_id}/rotate",
                                "Set the key's policy auto_rotate_days so that the scheduler rotates it"],
                "deadline": iso(figures.as_of + datetime.timedelta(days=7))})
        if key.status == "expired" and key.encrypts:
            findings.append({
                "id": _id("fnd_", "expired", key.key_id), "severity": "medium", "category": "key_management",
                "description": f"Key {key.key_id} is past its expiry and not revoked",
                "remediation": ["Generate a new key for the user and data type",
                                f"Revoke {key.key_id} once its data is rewrapped"]})
        if not compliance.nist_compliant(key.algorithm) and key.regulations:
            findings.append({
                "id": _id("fnd_", "algorithm", key.key_id), "severity": "low", "category": "encryption",
                "description": f"Key {key.key_id} seals with {key.algorithm}, which is not NIST-approved, under "
                               f"{', '.join(key.regulations)}",
                "regulation": key.regulations[0],
                "remediation": ["Generate an AES-256-GCM key and move the data to it"]})
    for alert in figures.alerts:
        if alert.detector == "repeated_failures":
            findings.append({
                "id": _id("fnd_", "failures", alert.id), "severity": alert.severity, "category": "access_control",
                "description": alert.description,
                "remediation": [f"Find out why {alert.principal} fails on {alert.cifer_id}",
                                f"Resolve alert {alert.id} when done (POST /api/security/alerts/{alert.id}/resolve)"]})
    return findings


def incident(alert: SecurityAlert) -> dict[str, Any]:
    """An alert as seed 001's SecurityIncident."""
    return {
        "id": alert.id, "timestamp": iso(alert.created_at), "type": INCIDENT_TYPES[alert.detector],
        "severity": alert.severity, "description": alert.description, "affectedKeys": [alert.cifer_id],
        "affectedUsers": 1 if alert.principal else 0, "status": "resolved" if alert.resolved_at else "open",
        **({"resolution": alert.resolution, "resolutionDate": iso(alert.resolved_at)} if alert.resolved_at else {}),
    }


def recommendations(figures: Figures) -> list[dict[str, Any]]:
    found = []
    late = [key for key in figures.keys if overdue(key, figures.as_of)]
    if late:
        found.append({
            "id": _id("rec_", "rotation", *sorted(k.key_id for k in late)), "priority": "high",
            "category": "key_rotation", "title": f"Rotate {len(late)} overdue key(s)",
            "description": "Past their rotation due date: " + ", ".join(k.key_id for k in late[:10])
                           + (f" and {len(late) - 10} more" if len(late) > 10 else ""),
            "implementation": ["POST /api/security/keys/{keyId}/rotate for each",
                               "Set auto_rotate_days on their policies"],
            "estimatedEffort": f"{len(late) * 5} minutes",
            "complianceBenefit": sorted({r for k in late for r in k.regulations}),
            "securityBenefit": ["Less data under any one key version", "Shorter exposure of a leaked key"]})
    cutoff = figures.as_of - datetime.timedelta(days=UNUSED_DAYS)
    unused = [key for key in figures.keys if key.status == "active" and key.operations == 0
              and key.created_at < cutoff]
    if unused:
        found.append({
            "id": _id("rec_", "unused", *sorted(k.key_id for k in unused)), "priority": "low",
            "category": "access_control", "title": f"Review {len(unused)} key(s) unused for {UNUSED_DAYS} days",
            "description": f"No operation in the period and older than {UNUSED_DAYS} days: "
                           + ", ".join(k.key_id for k in unused[:10]),
            "implementation": ["Revoke the keys no longer needed (DELETE /api/security/keys/{keyId})"],
            "estimatedEffort": f"{len(unused) * 2} minutes", "complianceBenefit": [],
            "securityBenefit": ["Fewer keys that could be misused"]})
    failing = sorted({(a.principal, a.cifer_id) for a in figures.alerts
                      if a.detector == "repeated_failures" and a.resolved_at is None})
    for principal, key_id in failing:
        found.append({
            "id": _id("rec_", "failures", principal or "", key_id or ""), "priority": "urgent",
            "category": "access_control", "title": f"Investigate repeated failures by {principal}",
            "description": f"{principal} keeps failing on key {key_id}: a misconfigured workload or a probe",
            "implementation": [f"Check {principal}'s credentials and the key's policy",
                               "Revoke the credential if it is not a known workload"],
            "estimatedEffort": "30 minutes", "complianceBenefit": [],
            "securityBenefit": ["Stops a possible brute-force or a misuse early"]})
    weak = [key for key in figures.keys if not compliance.nist_compliant(key.algorithm) and key.regulations]
    if weak:
        found.append({
            "id": _id("rec_", "algorithm", *sorted(k.key_id for k in weak)), "priority": "medium",
            "category": "algorithm_upgrade", "title": f"Move {len(weak)} regulated key(s) to AES-256-GCM",
            "description": "ChaCha20-Poly1305 is sound but not NIST-approved: " + ", ".join(k.key_id for k in weak[:10]),
            "implementation": ["Generate AES-256-GCM keys", "Re-encrypt the data to them", "Revoke the old keys"],
            "estimatedEffort": f"{len(weak)} hour(s)",
            "complianceBenefit": sorted({r for k in weak for r in k.regulations}),
            "securityBenefit": ["FIPS-approved primitives throughout"]})
    if figures.alerts and not figures.alert_webhooks:
        found.append({
            "id": _id("rec_", "monitoring"), "priority": "medium", "category": "monitoring",
            "title": "Subscribe a webhook to security.alert",
            "description": f"{len(figures.alerts)} alert(s) were raised and no webhook hears them",
            "implementation": ["POST /v1/webhooks with events [\"security.alert\"]"],
            "estimatedEffort": "15 minutes", "complianceBenefit": [],
            "securityBenefit": ["Alerts reach someone when they are raised"]})
    return found


def report_body(figures: Figures, *, report_id: str, report_type: str, generated_at: datetime.datetime,
                expires_at: datetime.datetime, include_recommendations: bool, scope: dict) -> dict[str, Any]:
    keys = figures.keys
    active = [key for key in keys if key.status == "active"]
    encrypts, decrypts = sum(k.encrypts for k in keys), sum(k.decrypts for k in keys)
    seconds = max((figures.as_of - figures.start).total_seconds(), 1.0)  # a period not over yet: so far
    incidents = [incident(alert) for alert in figures.alerts]
    findings = audit_findings(figures)
    regulations = sorted({r for key in keys for r in key.regulations} | set(scope.get("regulations", [])))
    flagged = {finding.get("regulation") for finding in findings}
    now_ages = [(figures.as_of - key.version_made_at).total_seconds() / 86400 for key in active]
    return {
        "reportId": report_id, "generatedAt": iso(generated_at), "reportType": report_type,
        "period": {"start": iso(figures.start), "end": iso(figures.end)}, "scope": scope,
        "executiveSummary": {
            "totalKeys": len(keys), "activeKeys": len(active),
            "expiredKeys": sum(1 for k in keys if k.status == "expired"),
            "revokedKeys": sum(1 for k in keys if k.status == "revoked"),
            "encryptionOperations": encrypts, "decryptionOperations": decrypts,
            "securityIncidents": len(incidents), "complianceScore": compliance_score(figures)},
        "keyMetrics": {
            "keyRotationCompliance": round(100 * score_parts(figures)["rotation"], 2),
            "averageKeyAge": round(sum(now_ages) / len(now_ages), 2) if now_ages else 0.0,
            "encryptionCoverage": None,  # CIFER never sees the data left unencrypted
            "performanceMetrics": {
                "averageEncryptionTime": None,  # sealed in the pods; sidecars report counts, not times
                "averageDecryptionTime": activity.mean(sum(k.decrypt_ms for k in keys),
                                                       sum(k.decrypts_timed for k in keys)),
                "throughput": round((encrypts + decrypts) / seconds, 4)}},
        "complianceStatus": {
            "fipsCompliance": False,  # cifer.dataprotection.compliance: no KEK here is a validated module
            "nistCompliance": all(compliance.nist_compliant(key.algorithm) for key in keys),
            "regulatoryCompliance": {name: name not in flagged for name in regulations},
            "auditFindings": findings,
            "auditChainIntact": figures.chain_intact, "auditChainVerifiedAt": iso(figures.chain_verified_at)},
        "securityIncidents": incidents,
        "recommendations": recommendations(figures) if include_recommendations else [],
        "expiryDate": iso(expires_at),
    }
