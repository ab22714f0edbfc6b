"""JSON Schema of seed 001's monitoring bodies (audit, key usage, alerts, reports), as the OpenAPI
documents state them, and their bounds (docs/security-api.md, "Monitoring"). Field names are the
seed's camelCase; a field CIFER cannot know is null, never invented."""

from __future__ import annotations

from cifer.api.schemas import CIFER_ID, SINCE, TIME
from cifer.api.security_schemas import KEY_ID, USER_ID
from cifer.dataprotection.compliance import REGULATIONS
from cifer.dataprotection.keytypes import DATA_TYPES

MAX_AUDIT_LIMIT = 200
MAX_SCOPE_ITEMS = 100
REPORT_TYPES = ("encryption_summary", "key_lifecycle", "compliance_status", "security_incidents")
REPORT_FORMATS = ("json", "pdf", "csv")
PERIODS = ("hour", "day", "week", "month")
SEVERITIES = ["low", "medium", "high", "critical"]
MAX_RESOLUTION_CHARS = 1000

_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING_OR_NULL = {"type": ["string", "null"]}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}

AUDIT_QUERY = [
    {"name": "startDate", "in": "query", "required": True, "schema": SINCE},
    {"name": "endDate", "in": "query", "required": True, "schema": {
        **SINCE, "description": "Inclusive: a date means the whole day, a time that instant"}},
    {"name": "userId", "in": "query", "schema": USER_ID},
    {"name": "keyId", "in": "query", "schema": CIFER_ID},
    {"name": "operation", "in": "query", "schema": {"enum": ["encrypt", "decrypt", "rotate", "revoke"]}},
    {"name": "dataType", "in": "query", "schema": {"enum": list(DATA_TYPES)}},
    {"name": "compliance", "in": "query", "schema": {"enum": ["HIPAA", "GDPR", "CCPA"]}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_LIMIT,
                                                 "default": 50}},
]
AUDIT_ENTRY = {"type": "object", "properties": {
    "id": {"type": "string"}, "timestamp": TIME,
    "operation": {"enum": ["encrypt", "decrypt", "key_generate", "key_rotate", "key_revoke"]},
    "userId": _STRING_OR_NULL, "keyId": KEY_ID, "keyVersion": _STRING_OR_NULL, "dataType": _STRING_OR_NULL,
    "dataClassification": {"type": "string"}, "result": {"enum": ["success", "failure", "partial"]},
    "ipAddress": _STRING_OR_NULL, "userAgent": _STRING_OR_NULL, "sessionId": {"type": "null"},
    "operationDuration": {**_NUMBER_OR_NULL, "description": "ms in the key service; null where not measured"},
    "dataSize": {**_NUMBER_OR_NULL, "description": "bytes sealed (encrypt records); null where not known"},
    "regulations": {"type": "array", "items": {"enum": list(REGULATIONS)}}, "auditRequired": {"type": "boolean"},
    "retentionPeriod": {"type": "string"}, "errorCode": {"type": "string"}, "errorMessage": _STRING_OR_NULL,
    "principal": {"type": "string", "description": "CIFER's extension: who the record names"},
    "metadata": {"type": "object"}}}
AUDIT_PAGE = {"type": "object", "properties": {
    "auditLogs": {"type": "array", "items": AUDIT_ENTRY},
    "pagination": {"type": "object", "properties": {name: {"type": "integer"} for name in (
        "page", "limit", "total", "totalPages")}},
    "summary": {"type": "object", "properties": {
        "totalOperations": {"type": "integer"}, "operationBreakdown": _COUNTS,
        "complianceAlerts": {"type": "integer"}, "securityIncidents": {"type": "integer"},
        "resultBreakdown": _COUNTS}},
    "auditChain": {"type": "object", "properties": {
        "verified": {"type": "boolean"}, "checkedRecords": {"type": "integer"}, "problem": _STRING_OR_NULL}}}}
ALERT = {"type": "object", "properties": {
    "id": {"type": "string"}, "timestamp": TIME, "severity": {"enum": SEVERITIES},
    "type": {"enum": ["unusual_access", "high_volume", "multiple_failures", "suspicious_pattern"]},
    "description": {"type": "string"}, "affectedOperations": {"type": "integer"}, "resolved": {"type": "boolean"},
    "resolutionDate": {**TIME, "description": "Present once resolved"},
    "detector": {"enum": ["repeated_failures", "high_volume", "new_principal", "rotation_overdue"]},
    "keyId": KEY_ID, "principal": _STRING_OR_NULL, "firstSeen": TIME, "lastSeen": TIME,
    "resolvedBy": _STRING_OR_NULL, "resolution": _STRING_OR_NULL}}
USAGE_QUERY = [
    {"name": "period", "in": "query", "schema": {"enum": list(PERIODS), "default": "day"},
     "description": "Buckets of this length, in UTC; a longer period answers its latest 2,232 buckets"},
    {"name": "startDate", "in": "query", "schema": SINCE},
    {"name": "endDate", "in": "query", "schema": SINCE},
]
_POINT = {"type": "object", "properties": {
    "timestamp": TIME, "operations": {"type": "integer"}, "dataVolume": {"type": "integer"},
    "averageLatency": _NUMBER_OR_NULL, "errorRate": {"type": "number", "description": "percent"},
    "encryptOperations": {"type": "integer"}, "decryptOperations": {"type": "integer"},
    "failedOperations": {"type": "integer"}}}
KEY_USAGE = {"type": "object", "properties": {
    "keyId": KEY_ID, "keyStatus": {"enum": ["active", "expired", "revoked"]},
    "usageStatistics": {"type": "object", "properties": {
        "period": {"enum": list(PERIODS)}, "startDate": TIME, "endDate": TIME,
        **{name: {"type": "integer"} for name in (
            "totalOperations", "encryptOperations", "decryptOperations", "uniqueUsers", "dataVolume")},
        "averageOperationTime": _NUMBER_OR_NULL, "errorRate": {"type": "number", "description": "percent"}}},
    "usageHistory": {"type": "array", "items": _POINT},
    "complianceMetrics": {"type": "object", "properties": {
        "unauthorizedAccess": {"type": "integer"}, "failedOperations": {"type": "integer"},
        "auditViolations": {"type": "integer"}, "regulatoryFlags": {"type": "array", "items": {"type": "string"}}}},
    "securityAlerts": {"type": "array", "items": ALERT}}}
ALERTS_QUERY = [
    {"name": "keyId", "in": "query", "schema": CIFER_ID},
    {"name": "status", "in": "query", "schema": {"enum": ["open", "resolved", "all"], "default": "open"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
]
RESOLVE_ALERT = {"type": "object", "required": ["resolution"], "additionalProperties": False, "properties": {
    "resolution": {"type": "string", "minLength": 1, "maxLength": MAX_RESOLUTION_CHARS, "pattern": "\\S",
                   "description": "What was found and done; kept with the alert and in the audit record"}}}
_SCOPE_LIST = {"type": "array", "maxItems": MAX_SCOPE_ITEMS}
REPORT_REQUEST = {"type": "object", "required": ["reportType", "period", "format"], "additionalProperties": False,
                  "properties": {
    "reportType": {"enum": list(REPORT_TYPES)},
    "period": {"type": "object", "required": ["start", "end"], "additionalProperties": False,
               "properties": {"start": SINCE, "end": SINCE}},
    "scope": {"type": "object", "additionalProperties": False, "properties": {
        "userIds": {**_SCOPE_LIST, "items": USER_ID}, "keyIds": {**_SCOPE_LIST, "items": CIFER_ID},
        "dataTypes": {**_SCOPE_LIST, "items": {"enum": list(DATA_TYPES)}},
        "regulations": {**_SCOPE_LIST, "items": {"enum": list(REGULATIONS)}}}},
    "format": {"enum": list(REPORT_FORMATS)},
    "includeMetrics": {"type": "boolean", "default": True},
    "includeRecommendations": {"type": "boolean", "default": True}}}
REPORT = {"type": "object", "properties": {
    "reportId": {"type": "string"}, "generatedAt": TIME, "reportType": {"enum": list(REPORT_TYPES)},
    "period": {"type": "object", "properties": {"start": TIME, "end": TIME}},
    "executiveSummary": {"type": "object"}, "keyMetrics": {"type": "object"}, "complianceStatus": {"type": "object"},
    "securityIncidents": {"type": "array", "items": {"type": "object"}},
    "recommendations": {"type": "array", "items": {"type": "object"}},
    "downloadUrl": {"type": "string", "description": "csv and pdf: a signed URL that needs no token, until expiryDate"},
    "expiryDate": TIME}}
_SECTION = {"type": "object"}
CONFIG_REQUEST = {"type": "object", "additionalProperties": False, "description":
                  "Seed 001's EncryptionConfigRequest; every section optional (CIFER's extension): what is "
                  "absent stays as it is", "properties": {
    "defaultAlgorithm": {"enum": ["AES-256-GCM", "AES-256-CBC", "ChaCha20-Poly1305"],
                         "description": "AES-256-CBC is refused (valid: false): it has no integrity"},
    "keyRotationPolicy": {**_SECTION, "additionalProperties": False, "properties": {
        "enabled": {"type": "boolean"}, "intervalDays": {"type": "integer"}, "gracePeriodDays": {"type": "integer"},
        "automaticRotation": {"type": "boolean"}}},
    "keyManagement": {**_SECTION, "additionalProperties": False, "properties": {
        "provider": {"type": "string", "maxLength": 255, "description":
                     "Must name the KEK this service has (pkcs11 or file); a cloud KMS is refused: not configured"},
        **{name: {"type": "string", "maxLength": 255} for name in ("region", "keySpec", "keyUsage")}}},
    "complianceSettings": {**_SECTION, "additionalProperties": False, "properties": {
        "fipsMode": {"type": "boolean"}, "auditAllOperations": {"type": "boolean"},
        "retainAuditLogs": {"type": "integer"},
        "regulations": {"type": "array", "maxItems": 32, "items": {"type": "string", "maxLength": 255}}}},
    "performanceSettings": {**_SECTION, "additionalProperties": False, "properties": {
        name: {"type": "integer"} for name in ("batchSize", "cacheSize", "cacheTTL", "maxConcurrentOperations")}}}}
CONFIG_RESULT = {"type": "object", "properties": {
    "configId": {"type": "string"}, "updatedAt": TIME, "appliedAt": TIME,
    "status": {"enum": ["pending", "applied", "failed"]},
    "validationResults": {"type": "array", "items": {"type": "object", "properties": {
        "setting": {"type": "string"}, "valid": {"type": "boolean"}, "warning": {"type": "string"},
        "error": {"type": "string"}, "recommendation": {"type": "string"}}}},
    "impactAssessment": {"type": "object", "properties": {
        "affectedKeys": {"type": "integer"}, "affectedUsers": {"type": "integer"},
        "migrationRequired": {"type": "boolean"}, "estimatedDowntime": {"type": "number"},
        "keysOnOtherAlgorithms": {"type": "integer"}}}}}
CONFIG = {"type": "object", "properties": {
    "configId": {"type": "string"}, "updatedAt": {"type": ["string", "null"]}, "updatedBy": {"type": ["string", "null"]},
    "defaultAlgorithm": {"type": "string"}, "keyRotationPolicy": _SECTION, "keyManagement": _SECTION,
    "complianceSettings": _SECTION, "performanceSettings": _SECTION}}
_STATUS = {"enum": ["healthy", "degraded", "unhealthy"]}
HEALTH = {"type": "object", "properties": {
    "status": _STATUS, "timestamp": TIME,
    "keyManagement": {"type": "object", "properties": {
        "status": _STATUS, "activeKeys": {"type": "integer"}, "expiredKeys": {"type": "integer"},
        "averageResponseTime": _NUMBER_OR_NULL, "errorRate": {"type": "number"}}},
    "encryption": {"type": "object", "properties": {
        "status": _STATUS, "operationsPerSecond": {"type": "number"}, "averageLatency": _NUMBER_OR_NULL,
        "errorRate": {"type": "number"}, "queueDepth": {"type": "integer"}}},
    "compliance": {"type": "object", "properties": {
        "status": {"enum": ["compliant", "warning", "violation"]}, "auditLogHealth": {"type": "boolean"},
        "retentionCompliance": {"type": "boolean"}, "regulatoryFlags": {"type": "array", "items": {"type": "string"}},
        "auditChainVerifiedAt": {"type": ["string", "null"], "description":
                                 "CIFER's extension: when the whole audit chain last verified (null: not yet)"}}},
    "alerts": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "severity": {"enum": ["info", "warning", "error", "critical"]},
        "component": {"enum": ["key_management", "encryption", "audit", "compliance"]},
        "message": {"type": "string"}, "timestamp": TIME, "resolved": {"type": "boolean"}}}}}}
