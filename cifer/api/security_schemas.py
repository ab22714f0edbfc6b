"""JSON Schema of seed 001's bodies (`/api/security/*`, docs/security-api.md), as the OpenAPI
documents state them, and the bounds the routes enforce. Field names are the seed's camelCase."""

from __future__ import annotations

from typing import Any

from cifer.api.schemas import (AEADS, MAX_ALLOWED_PURPOSES, MAX_PURPOSE_CHARS, MAX_WEBHOOK_SECRET_CHARS, MIN_WEBHOOK_SECRET_CHARS, OPTIONAL_TIME, TIME,
                                WEBHOOK_URL)
from cifer.dataprotection.fields import MAX_FIELDS, MAX_PATH_CHARS
from cifer.dataprotection.keytypes import DATA_TYPES, KEY_TYPES, KEY_USAGES, MAX_USER_ID_CHARS
from cifer.dataprotection.values import MAX_AAD_BYTES

MAX_BATCH_OPERATIONS = 1000
QUEUED_OVER = 100  # a batch of more operations, with a callback, is answered `queued` and delivered by it
CALLBACK_ATTEMPTS = 3  # a callback is tried this often, 1 s and then 2 s apart
MAX_EXPIRATION_DAYS = 3650
DEFAULT_EXPIRATION_DAYS = 90
DEFAULT_GRACE_PERIOD_DAYS = 30
SCOPES_NOTE = ("Seed 001's tokens map onto CIFER's scopes: its admin token is a credential holding "
               "`cifer:create` (or `admin`) for keys, its user token one holding `encrypt` or `decrypt`, its "
               "system token one holding `encrypt` for batches.")

KEY_TYPE = {"enum": list(KEY_TYPES)}
USER_ID = {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID_CHARS, "pattern": "^[^\\x00]+$"}
KEY_ID = {"type": "string", "description": "A cifer id (`cif_...`): CIFER's keys keep their id across rotations"}
DATA = {"oneOf": [{"type": "string"}, {"type": "object"}],
        "description": "A string, or a JSON object sealed as canonical JSON and given back equal"}
COMPLIANCE_OF_KEY = {"type": "object", "required": ["fipsValidated", "nistCompliant", "regulations"], "properties": {
    "fipsValidated": {"type": "boolean"}, "nistCompliant": {"type": "boolean"},
    "regulations": {"type": "array", "items": {"type": "string"}}}}
KEY = {"type": "object", "required": ["keyId", "keyVersion", "algorithm", "keyUsage", "createdAt", "expiresAt",
                                      "status", "kmsProvider", "compliance"], "properties": {
    "keyId": KEY_ID, "keyVersion": {"type": "string"}, "algorithm": {"enum": AEADS},
    "keyUsage": {"enum": list(KEY_USAGES)}, "createdAt": TIME,
    "expiresAt": {**OPTIONAL_TIME, "description": "null for a cifer made without an expiry (POST /v1/cifers)"},
    "status": {"enum": ["active", "pending", "expired", "revoked"]},
    "kmsProvider": {"type": "string", "description": "The KEK actually configured: `pkcs11` or `file` (outside "
                                                     "the seed's cloud enum: CIFER names what it uses)"},
    "keyArn": {"type": "string", "description": "The KEK's non-secret name, e.g. pkcs11:<token>/<key>"},
    "userId": {**USER_ID, "type": ["string", "null"]}, "keyType": {"enum": [*KEY_TYPES, None]},
    "compliance": COMPLIANCE_OF_KEY,
    "metadata": {"type": "object", "description": "CIFER's extension: the request's metadata, as kept"}}}
GENERATE_KEY = {"type": "object", "required": ["userId", "keyType", "keyUsage"],
                "additionalProperties": False, "properties": {
    "userId": USER_ID, "keyType": {"enum": list(KEY_TYPES)},
    "algorithm": {"enum": AEADS, "description": "The seed's AES-256-CBC is refused (400): it has no integrity. "
                                                "Absent (CIFER's extension): the configured defaultAlgorithm"},
    "keyUsage": {"enum": list(KEY_USAGES)},
    "expirationDays": {"type": "integer", "minimum": 1, "maximum": MAX_EXPIRATION_DAYS,
                       "default": DEFAULT_EXPIRATION_DAYS},
    "metadata": {"type": "object", "additionalProperties": False, "properties": {
        "purpose": {"type": "string", "maxLength": 1000},
        "dataClassification": {"enum": ["public", "internal", "confidential", "restricted"]},
        "regulatoryRequirement": {"type": "string", "maxLength": 1024}}},
    "allowedPurposes": {"type": "array", "maxItems": MAX_ALLOWED_PURPOSES,
                        "items": {"type": "string", "minLength": 1, "maxLength": MAX_PURPOSE_CHARS},
                        "description": "CIFER's extension: a decryption must name one of these accessPurposes"},
    "allowedPrincipals": {"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1,
                                                                       "maxLength": 255},
                          "description": "CIFER's extension: principals besides the key's creator that may decrypt"}}}
ROTATE_KEY = {"type": "object", "additionalProperties": False, "properties": {
    "reason": {"enum": ["scheduled", "security_incident", "compliance_requirement", "manual"]},
    "gracePeriodDays": {"type": "integer", "minimum": 0, "maximum": 365, "description":
                        "Absent: the configured keyRotationPolicy.gracePeriodDays "
                        f"({DEFAULT_GRACE_PERIOD_DAYS} until configured)"},
    "immediateRotation": {"type": "boolean"}, "notifyUsers": {"type": "boolean"}}}
ROTATED = {"type": "object", "properties": {
    "oldKeyId": KEY_ID, "newKeyId": KEY_ID, "oldKeyVersion": {"type": "string"}, "newKeyVersion": {"type": "string"},
    "rotationDate": TIME, "gracePeriodEnd": TIME, "affectedRecords": {"type": "integer"},
    "reencryptionStatus": {"enum": ["pending", "in-progress", "completed", "failed"]},
    "estimatedCompletionTime": TIME}}
REVOKE_KEY = {"type": "object", "required": ["reason", "emergencyRevocation", "dataAction", "confirmationCode"],
              "additionalProperties": False, "properties": {
    "reason": {"enum": ["compromise", "user_deletion", "policy_violation", "expiration"]},
    "emergencyRevocation": {"type": "boolean"}, "dataAction": {"enum": ["delete", "reencrypt", "archive"]},
    "confirmationCode": {"type": "string", "pattern": "^cif_[A-Za-z0-9]{12,60}:[1-9][0-9]{0,9}$",
                         "description": "`<keyId>:<keyVersion>`: the key's current version, read first"}}}
REVOKED = {"type": "object", "properties": {
    "keyId": KEY_ID, "revocationDate": TIME, "reason": {"type": "string"},
    "affectedData": {"type": "object", "properties": {
        "recordCount": {"type": "integer"}, "dataTypes": {"type": "array", "items": {"type": "string"}},
        "action": {"type": "string"}, "completionEstimate": TIME}},
    "complianceNotifications": {"type": "array", "items": {"type": "string"}}}}
CONTEXT = {"type": "object", "additionalProperties": False, "properties": {
    "purpose": {"type": "string", "maxLength": 1024}, "retention": {"type": "string", "maxLength": 1024},
    "classification": {"enum": ["confidential", "restricted"]}}}
_ENCRYPT_FIELDS = {
    "data": DATA, "dataType": {"enum": list(DATA_TYPES)}, "userId": USER_ID, "context": CONTEXT,
    "compression": {"type": "boolean", "default": False},
    "additionalAuthenticatedData": {"type": "string", "minLength": 1, "maxLength": MAX_AAD_BYTES},
    "keyId": {**KEY_ID, "description": "CIFER's extension: this key rather than the user's newest for the data type"},
    "fields": {"type": "array", "minItems": 1, "maxItems": MAX_FIELDS, "uniqueItems": True,
               "items": {"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS},
               "description": "CIFER's extension: seal only these fields (JSON Pointers or dotted paths), each "
                              "as its own envelope"}}
ENCRYPT = {"type": "object", "required": ["data", "dataType", "userId"], "additionalProperties": False,
           "properties": _ENCRYPT_FIELDS, "dependentSchemas": {"fields": {"properties": {"data": {"type": "object"}}}}}
ENCRYPTED_DATA = {"type": "object", "required": ["value", "keyId", "keyVersion", "algorithm", "iv"], "properties": {
    "value": {"oneOf": [{"type": "string"}, {"type": "object"}],
              "description": "The whole envelope in base64; with `fields`, the object with each field an envelope"},
    "keyId": KEY_ID, "keyVersion": {"type": "string"}, "algorithm": {"enum": AEADS},
    "iv": {"type": "string", "description": "Informative: the envelope's 16-byte message id (base64), from which "
                                            "each chunk's nonce is derived"},
    "authTag": {"type": "string", "description": "Informative: the final chunk's 16-byte tag (base64)"},
    "compressionUsed": {"type": "boolean"}, "fields": {"type": "array", "items": {"type": "string"}},
    "encryptionMetadata": {"type": "object"}}}
ENCRYPTED = {"type": "object", "properties": {"encryptedData": ENCRYPTED_DATA, "compliance": {"type": "object"}}}
DECRYPT = {"type": "object", "required": ["encryptedData", "userId", "accessPurpose"], "additionalProperties": False,
           "properties": {"encryptedData": ENCRYPTED_DATA, "userId": USER_ID,
                          "accessPurpose": {"type": "string", "minLength": 1, "maxLength": MAX_PURPOSE_CHARS},
                          "additionalAuthenticatedData": _ENCRYPT_FIELDS["additionalAuthenticatedData"]}}
DECRYPTED = {"type": "object", "properties": {
    "data": DATA, "decryptionMetadata": {"type": "object"}, "accessLogged": {"type": "boolean"},
    "compliance": {"type": "object"}}}
OPERATION = {"description": "One encryption as /api/security/encrypt takes it (ENCRYPT), with an `operationId` of 1 "
                              "to 128 characters. Each is judged and answered on its own, so the batch's schema "
                              "constrains none: a bad one fails alone, in its result, with its code and reason"}
BATCH = {"type": "object", "required": ["operations"], "additionalProperties": False, "properties": {
    "operations": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_OPERATIONS, "items": OPERATION},
    "batchId": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"},
    "priority": {"enum": ["low", "normal", "high", "urgent"], "default": "normal",
                 "description": "Accepted and recorded; every batch is served as it arrives"},
    "callback": {"type": "object", "required": ["url", "authentication"], "additionalProperties": False,
                 "properties": {"url": WEBHOOK_URL, "authentication": {
                     "type": "string", "minLength": MIN_WEBHOOK_SECRET_CHARS, "maxLength": MAX_WEBHOOK_SECRET_CHARS,
                     "description": "The secret the callback is signed with, as a webhook's (X-Cifer-Signature, "
                                    "X-Cifer-Signature-V2 with its timestamp)"}}}}}
BATCHED = {"type": "object", "properties": {
    "batchId": {"type": "string"}, "status": {"enum": ["queued", "processing", "completed", "failed"]},
    "operations": {"type": "array", "items": {"type": "object"}}, "summary": {"type": "object"}}}


def described(text: str) -> dict[str, Any]:
    return {"description": f"{text} {SCOPES_NOTE}"}
