"""Seed 001's audit, monitoring, reporting and administration interfaces (`/api/security/*`, part 2),
transcribed by hand from the seed's TypeScript (001_bb1549044adcb446.txt) into JSON Schema (draft
2020-12), so tests validate our server's answers against the seed and not against our OpenAPI document.

The style is part 1's (tests/dev/test_security_api.py): a field without `?` is required, a string-literal
union is an enum, a `// ISO 8601` string is ISO, a TS `number` is "number" (integers are numbers), a
`Record<string, T>` is an object of T, and extensions are allowed (no `additionalProperties: false`).
The only relaxations are fields our server answers `null` for when it cannot know them rather than
inventing a value; each one is marked "null: not known" where it is."""

from __future__ import annotations

ISO = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
STRINGS = {"type": "array", "items": {"type": "string"}}
SEVERITY = {"enum": ["low", "medium", "high", "critical"]}
# "// percentage" and "// 0-100" in the seed.
PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}

# --- Query Encryption Audit Logs: GET /api/security/audit/encryption ----------------------------
ENCRYPTION_AUDIT_ENTRY = {"type": "object", "required": [
    "id", "timestamp", "operation", "keyId", "keyVersion", "dataType", "dataClassification", "result", "ipAddress",
    "operationDuration", "dataSize", "regulations", "auditRequired", "retentionPeriod", "metadata"], "properties": {
        "id": {"type": "string"}, "timestamp": ISO,
        "operation": {"enum": ["encrypt", "decrypt", "key_generate", "key_rotate", "key_revoke"]},
        "userId": NULLABLE_STRING,  # null: not known (optional in the seed)
        "keyId": {"type": "string"},
        "keyVersion": NULLABLE_STRING,  # null: not known
        "dataType": NULLABLE_STRING,  # null: not known
        "dataClassification": {"type": "string"},
        "result": {"enum": ["success", "failure", "partial"]},
        "ipAddress": NULLABLE_STRING,  # null: not known
        "userAgent": NULLABLE_STRING,  # null: not known (optional in the seed)
        "sessionId": NULLABLE_STRING,  # null: not known (optional in the seed)
        "operationDuration": NULLABLE_NUMBER,  # null: not known (milliseconds)
        "dataSize": NULLABLE_NUMBER,  # null: not known (bytes)
        "regulations": STRINGS, "auditRequired": {"type": "boolean"}, "retentionPeriod": {"type": "string"},
        "errorCode": {"type": "string"},
        "errorMessage": NULLABLE_STRING,  # null: not known (optional in the seed)
        "metadata": {"type": "object"}}}
# Seed 001 uses `PaginationInfo` without defining it, and seed 000 has no pagination object (its listCifers
# takes `limit` and `cursor` and references an undefined ListCifersResponse): so, by the brief, integer
# page, limit and total (the audit query's own `page` and `limit` parameters, plus the count).
PAGINATION_INFO = {"type": "object", "required": ["page", "limit", "total"], "properties": {
    "page": {"type": "integer"}, "limit": {"type": "integer"}, "total": {"type": "integer"}}}
AUDIT_RESPONSE = {"type": "object", "required": ["auditLogs", "pagination", "summary"], "properties": {
    "auditLogs": {"type": "array", "items": ENCRYPTION_AUDIT_ENTRY},
    "pagination": PAGINATION_INFO,
    "summary": {"type": "object", "required": [
        "totalOperations", "operationBreakdown", "complianceAlerts", "securityIncidents"], "properties": {
            "totalOperations": {"type": "number"},
            "operationBreakdown": {"type": "object", "additionalProperties": {"type": "number"}},
            "complianceAlerts": {"type": "number"}, "securityIncidents": {"type": "number"}}}}}

# --- Monitor Key Usage: GET /api/security/keys/{keyId}/usage ------------------------------------
USAGE_DATA_POINT = {"type": "object", "required": [
    "timestamp", "operations", "dataVolume", "averageLatency", "errorRate"], "properties": {
        "timestamp": ISO, "operations": {"type": "number"}, "dataVolume": {"type": "number"},
        "averageLatency": NULLABLE_NUMBER,  # null: not known
        "errorRate": {"type": "number"}}}
SECURITY_ALERT = {"type": "object", "required": [
    "id", "timestamp", "severity", "type", "description", "affectedOperations", "resolved"], "properties": {
        "id": {"type": "string"}, "timestamp": ISO, "severity": SEVERITY,
        "type": {"enum": ["unusual_access", "high_volume", "multiple_failures", "suspicious_pattern"]},
        "description": {"type": "string"}, "affectedOperations": {"type": "number"},
        "resolved": {"type": "boolean"}, "resolutionDate": ISO}}
KEY_USAGE_RESPONSE = {"type": "object", "required": [
    "keyId", "keyStatus", "usageStatistics", "usageHistory", "complianceMetrics", "securityAlerts"], "properties": {
        "keyId": {"type": "string"}, "keyStatus": {"enum": ["active", "expired", "revoked"]},
        "usageStatistics": {"type": "object", "required": [
            "period", "totalOperations", "encryptOperations", "decryptOperations", "uniqueUsers", "dataVolume",
            "averageOperationTime"], "properties": {
                "period": {"type": "string"}, "totalOperations": {"type": "number"},
                "encryptOperations": {"type": "number"}, "decryptOperations": {"type": "number"},
                "uniqueUsers": {"type": "number"}, "dataVolume": {"type": "number"},
                "averageOperationTime": NULLABLE_NUMBER}},  # null: not known (milliseconds)
        "usageHistory": {"type": "array", "items": USAGE_DATA_POINT},
        "complianceMetrics": {"type": "object", "required": [
            "unauthorizedAccess", "failedOperations", "auditViolations", "regulatoryFlags"], "properties": {
                "unauthorizedAccess": {"type": "number"}, "failedOperations": {"type": "number"},
                "auditViolations": {"type": "number"}, "regulatoryFlags": STRINGS}},
        "securityAlerts": {"type": "array", "items": SECURITY_ALERT}}}

# --- Generate Security Report: POST /api/security/reports/generate ------------------------------
SECURITY_REPORT_REQUEST = {"type": "object", "required": [
    "reportType", "period", "format", "includeMetrics", "includeRecommendations"], "properties": {
        "reportType": {"enum": ["encryption_summary", "key_lifecycle", "compliance_status", "security_incidents"]},
        "period": {"type": "object", "required": ["start", "end"], "properties": {"start": ISO, "end": ISO}},
        "scope": {"type": "object", "properties": {
            "userIds": STRINGS, "keyIds": STRINGS, "dataTypes": STRINGS, "regulations": STRINGS}},
        "format": {"enum": ["json", "pdf", "csv"]},
        "includeMetrics": {"type": "boolean"}, "includeRecommendations": {"type": "boolean"}}}
AUDIT_FINDING = {"type": "object", "required": ["id", "severity", "category", "description", "remediation"],
                 "properties": {
    "id": {"type": "string"}, "severity": SEVERITY,
    "category": {"enum": ["key_management", "encryption", "access_control", "compliance"]},
    "description": {"type": "string"}, "regulation": {"type": "string"}, "remediation": STRINGS, "deadline": ISO}}
SECURITY_INCIDENT = {"type": "object", "required": [
    "id", "timestamp", "type", "severity", "description", "affectedKeys", "affectedUsers", "status"], "properties": {
        "id": {"type": "string"}, "timestamp": ISO,
        "type": {"enum": ["unauthorized_access", "key_compromise", "encryption_failure", "compliance_violation"]},
        "severity": SEVERITY, "description": {"type": "string"}, "affectedKeys": STRINGS,
        "affectedUsers": {"type": "number"}, "status": {"enum": ["open", "investigating", "resolved", "closed"]},
        "resolution": {"type": "string"}, "resolutionDate": ISO}}
SECURITY_RECOMMENDATION = {"type": "object", "required": [
    "id", "priority", "category", "title", "description", "implementation", "estimatedEffort", "complianceBenefit",
    "securityBenefit"], "properties": {
        "id": {"type": "string"}, "priority": {"enum": ["low", "medium", "high", "urgent"]},
        "category": {"enum": ["key_rotation", "algorithm_upgrade", "access_control", "monitoring"]},
        "title": {"type": "string"}, "description": {"type": "string"}, "implementation": STRINGS,
        "estimatedEffort": {"type": "string"}, "complianceBenefit": STRINGS, "securityBenefit": STRINGS}}
SECURITY_REPORT_RESPONSE = {"type": "object", "required": [
    "reportId", "generatedAt", "reportType", "period", "executiveSummary", "keyMetrics", "complianceStatus",
    "securityIncidents", "recommendations", "expiryDate"], "properties": {
        "reportId": {"type": "string"}, "generatedAt": ISO,
        "reportType": {"type": "string"},  # a plain string in the response (the request's is the enum)
        # The response's period has no "// ISO 8601" in the seed (the request's does): plain strings.
        "period": {"type": "object", "required": ["start", "end"], "properties": {
            "start": {"type": "string"}, "end": {"type": "string"}}},
        "executiveSummary": {"type": "object", "required": [
            "totalKeys", "activeKeys", "expiredKeys", "revokedKeys", "encryptionOperations", "decryptionOperations",
            "securityIncidents", "complianceScore"], "properties": {
                "totalKeys": {"type": "number"}, "activeKeys": {"type": "number"},
                "expiredKeys": {"type": "number"}, "revokedKeys": {"type": "number"},
                "encryptionOperations": {"type": "number"}, "decryptionOperations": {"type": "number"},
                "securityIncidents": {"type": "number"}, "complianceScore": PERCENT}},
        "keyMetrics": {"type": "object", "required": [
            "keyRotationCompliance", "averageKeyAge", "encryptionCoverage", "performanceMetrics"], "properties": {
                "keyRotationCompliance": PERCENT, "averageKeyAge": {"type": "number"},
                # null: not known (the share of sensitive data encrypted)
                "encryptionCoverage": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                "performanceMetrics": {"type": "object", "required": [
                    "averageEncryptionTime", "averageDecryptionTime", "throughput"], "properties": {
                        "averageEncryptionTime": NULLABLE_NUMBER,  # null: not known (milliseconds)
                        "averageDecryptionTime": NULLABLE_NUMBER,  # null: not known (milliseconds)
                        "throughput": {"type": "number"}}}}},
        "complianceStatus": {"type": "object", "required": [
            "fipsCompliance", "nistCompliance", "regulatoryCompliance", "auditFindings"], "properties": {
                "fipsCompliance": {"type": "boolean"}, "nistCompliance": {"type": "boolean"},
                "regulatoryCompliance": {"type": "object", "additionalProperties": {"type": "boolean"}},
                "auditFindings": {"type": "array", "items": AUDIT_FINDING}}},
        "securityIncidents": {"type": "array", "items": SECURITY_INCIDENT},
        "recommendations": {"type": "array", "items": SECURITY_RECOMMENDATION},
        "downloadUrl": {"type": "string"}, "expiryDate": ISO}}

# --- Update Encryption Configuration: PUT /api/security/config/encryption -----------------------
ENCRYPTION_CONFIG_REQUEST = {"type": "object", "required": [
    "defaultAlgorithm", "keyRotationPolicy", "keyManagement", "complianceSettings", "performanceSettings"],
    "properties": {
        "defaultAlgorithm": {"enum": ["AES-256-GCM", "AES-256-CBC", "ChaCha20-Poly1305"]},
        "keyRotationPolicy": {"type": "object", "required": [
            "enabled", "intervalDays", "gracePeriodDays", "automaticRotation"], "properties": {
                "enabled": {"type": "boolean"}, "intervalDays": {"type": "number"},
                "gracePeriodDays": {"type": "number"}, "automaticRotation": {"type": "boolean"}}},
        "keyManagement": {"type": "object", "required": ["provider", "region", "keySpec", "keyUsage"], "properties": {
            "provider": {"enum": ["aws-kms", "azure-key-vault", "google-cloud-kms"]},
            "region": {"type": "string"}, "keySpec": {"type": "string"}, "keyUsage": {"type": "string"}}},
        "complianceSettings": {"type": "object", "required": [
            "fipsMode", "auditAllOperations", "retainAuditLogs", "regulations"], "properties": {
                "fipsMode": {"type": "boolean"}, "auditAllOperations": {"type": "boolean"},
                "retainAuditLogs": {"type": "number"}, "regulations": STRINGS}},  # retainAuditLogs: days
        "performanceSettings": {"type": "object", "required": [
            "batchSize", "cacheSize", "cacheTTL", "maxConcurrentOperations"], "properties": {
                "batchSize": {"type": "number"}, "cacheSize": {"type": "number"},
                "cacheTTL": {"type": "number"}, "maxConcurrentOperations": {"type": "number"}}}}}  # cacheTTL: s
CONFIG_VALIDATION_RESULT = {"type": "object", "required": ["setting", "valid"], "properties": {
    "setting": {"type": "string"}, "valid": {"type": "boolean"}, "warning": {"type": "string"},
    "error": {"type": "string"}, "recommendation": {"type": "string"}}}
ENCRYPTION_CONFIG_RESPONSE = {"type": "object", "required": [
    "configId", "updatedAt", "status", "validationResults", "impactAssessment"], "properties": {
        "configId": {"type": "string"}, "updatedAt": ISO, "appliedAt": ISO,
        "status": {"enum": ["pending", "applied", "failed"]},
        "validationResults": {"type": "array", "items": CONFIG_VALIDATION_RESULT},
        "impactAssessment": {"type": "object", "required": ["affectedKeys", "affectedUsers", "migrationRequired"],
                             "properties": {
            "affectedKeys": {"type": "number"}, "affectedUsers": {"type": "number"},
            "migrationRequired": {"type": "boolean"}, "estimatedDowntime": {"type": "number"}}}}}  # minutes

# --- Health Check API: GET /api/security/health -------------------------------------------------
HEALTH = {"enum": ["healthy", "degraded", "unhealthy"]}
SYSTEM_ALERT = {"type": "object", "required": ["id", "severity", "component", "message", "timestamp", "resolved"],
                "properties": {
    "id": {"type": "string"}, "severity": {"enum": ["info", "warning", "error", "critical"]},
    "component": {"enum": ["key_management", "encryption", "audit", "compliance"]},
    "message": {"type": "string"}, "timestamp": ISO, "resolved": {"type": "boolean"}}}
SECURITY_HEALTH_RESPONSE = {"type": "object", "required": [
    "status", "timestamp", "keyManagement", "encryption", "compliance", "alerts"], "properties": {
        "status": HEALTH, "timestamp": ISO,
        "keyManagement": {"type": "object", "required": [
            "status", "activeKeys", "expiredKeys", "averageResponseTime", "errorRate"], "properties": {
                "status": HEALTH, "activeKeys": {"type": "number"}, "expiredKeys": {"type": "number"},
                "averageResponseTime": NULLABLE_NUMBER,  # null: not known (milliseconds)
                "errorRate": PERCENT}},
        "encryption": {"type": "object", "required": [
            "status", "operationsPerSecond", "averageLatency", "errorRate", "queueDepth"], "properties": {
                "status": HEALTH, "operationsPerSecond": {"type": "number"},
                "averageLatency": NULLABLE_NUMBER,  # null: not known (milliseconds)
                "errorRate": PERCENT, "queueDepth": {"type": "number"}}},
        "compliance": {"type": "object", "required": [
            "status", "auditLogHealth", "retentionCompliance", "regulatoryFlags"], "properties": {
                "status": {"enum": ["compliant", "warning", "violation"]}, "auditLogHealth": {"type": "boolean"},
                "retentionCompliance": {"type": "boolean"}, "regulatoryFlags": STRINGS}},
        "alerts": {"type": "array", "items": SYSTEM_ALERT}}}
