/**
 * Seed 001's data-protection API (`/api/security/*`, docs/security-api.md): `client.security`.
 * The request and response interfaces are the seed's, copied as written ("Key Management API",
 * "Data Encryption API"), with CIFER's documented extensions marked as such. Field names are
 * the seed's camelCase and times its ISO 8601 strings, so answers are returned as the server's
 * `data`, unwrapped from the usual CIFER body, without renaming. Errors are the §9.3 classes:
 * a key generated with AES-256-CBC is an `InvalidRequestError`, a wrong
 * `additionalAuthenticatedData` an `InvalidCiphertextError`.
 */

import * as E from './endpoints.js';
import { invalidResponse } from './errors.js';
import type { Transport } from './transport.js';

// --- Key Management API ---------------------------------------------------------------------

// Request Schema
export interface GenerateKeyRequest {
  userId: string;
  keyType: 'user-data' | 'health-data' | 'financial-data' | 'backup';
  /** AES-256-CBC is refused by CIFER (400, `InvalidRequestError`): it has no integrity. */
  algorithm: 'AES-256-GCM' | 'AES-256-CBC' | 'ChaCha20-Poly1305';
  keyUsage: 'encrypt' | 'decrypt' | 'both';
  expirationDays?: number; // Default: 90 days
  metadata?: {
    purpose: string;
    dataClassification: 'public' | 'internal' | 'confidential' | 'restricted';
    regulatoryRequirement?: string;
  };
  /** CIFER's extension: principals besides the key's creator that may decrypt. */
  allowedPrincipals?: string[];
  /** CIFER's extension: a decryption must name one of these `accessPurpose`s. */
  allowedPurposes?: string[];
}

// Response Schema
export interface GenerateKeyResponse {
  /** A cifer id (`cif_...`): CIFER's keys keep their id across rotations. */
  keyId: string;
  keyVersion: string;
  algorithm: string;
  keyUsage: string;
  createdAt: string; // ISO 8601
  expiresAt: string; // ISO 8601
  status: 'active' | 'pending' | 'expired' | 'revoked';
  /** The seed's three clouds, or what CIFER really holds its key-encryption key in: `pkcs11` (an HSM) or `file` (`cifer dev`). */
  kmsProvider: 'aws-kms' | 'azure-key-vault' | 'google-cloud-kms' | 'pkcs11' | 'file';
  keyArn?: string; // For AWS KMS; CIFER: the KEK's non-secret id, `pkcs11:<token>/<key>` or `file:<path>`
  compliance: {
    fipsValidated: boolean;
    nistCompliant: boolean;
    regulations: string[];
  };
  /** CIFER's extension: whose key, for which data. */
  userId?: string | null;
  keyType?: GenerateKeyRequest['keyType'] | null;
  /** CIFER's extension: the request's metadata, as kept. */
  metadata?: Record<string, unknown>;
}

/** CIFER's extension: `GET /api/security/keys?userId=&keyType=`, the unrevoked keys, newest first. */
export interface FindKeysRequest {
  userId: string;
  keyType: GenerateKeyRequest['keyType'];
}

export interface FindKeysResponse {
  keys: GenerateKeyResponse[];
}

// Request Schema
export interface RotateKeyRequest {
  reason: 'scheduled' | 'security_incident' | 'compliance_requirement' | 'manual';
  gracePeriodDays?: number; // Default: 30 days
  immediateRotation?: boolean; // Force immediate rotation
  notifyUsers?: boolean; // Notify affected users
}

// Response Schema
export interface RotateKeyResponse {
  oldKeyId: string;
  newKeyId: string;
  rotationDate: string; // ISO 8601
  gracePeriodEnd: string; // ISO 8601
  affectedRecords: number;
  reencryptionStatus: 'pending' | 'in-progress' | 'completed' | 'failed';
  estimatedCompletionTime: string; // ISO 8601
  /** CIFER's extension: the key keeps its id (`oldKeyId` = `newKeyId`); these say what changed. */
  oldKeyVersion?: string;
  newKeyVersion?: string;
}

// Request Schema
export interface RevokeKeyRequest {
  reason: 'compromise' | 'user_deletion' | 'policy_violation' | 'expiration';
  emergencyRevocation: boolean;
  dataAction: 'delete' | 'reencrypt' | 'archive';
  /** `<keyId>:<keyVersion>` with the key's current version as last read (`revocationCode(key)`); a stale one is refused. */
  confirmationCode: string;
}

// Response Schema
export interface RevokeKeyResponse {
  keyId: string;
  revocationDate: string; // ISO 8601
  reason: string;
  affectedData: {
    recordCount: number;
    dataTypes: string[];
    action: string;
    completionEstimate: string; // ISO 8601
  };
  complianceNotifications: string[];
}

// --- Data Encryption API --------------------------------------------------------------------

// Request Schema
export interface EncryptDataRequest {
  data: string | object;
  dataType: 'health' | 'personal' | 'financial' | 'location' | 'biometric';
  userId: string;
  context?: {
    purpose: string;
    retention: string;
    classification: 'confidential' | 'restricted';
  };
  compression?: boolean; // Default: false
  additionalAuthenticatedData?: string; // For GCM mode
  /** CIFER's extension: this key rather than the user's newest for the data type. */
  keyId?: string;
  /** CIFER's extension: seal only these fields of an object `data` (JSON Pointers or dotted paths), each as its own envelope. */
  fields?: string[];
}

// Response Schema
export interface EncryptDataResponse {
  encryptedData: {
    /** The whole envelope in base64; with `fields` (CIFER's extension), the object with each of those fields `cifer:v1:<envelope>`. */
    value: string | Record<string, unknown>; // Base64 encoded encrypted data
    keyId: string;
    keyVersion: string;
    algorithm: string;
    iv: string; // Base64 encoded initialization vector
    authTag?: string; // Base64 encoded authentication tag
    compressionUsed: boolean;
    /** CIFER's extension: the JSON Pointers of the sealed fields. */
    fields?: string[];
    encryptionMetadata: {
      timestamp: string; // ISO 8601
      dataSize: number; // Original size in bytes
      encryptedSize: number; // Encrypted size in bytes
      checksumOriginal: string; // SHA-256 of original data
      checksumEncrypted: string; // SHA-256 of encrypted data
    };
  };
  compliance: {
    dataClassification: string;
    retentionPolicy: string;
    auditRequired: boolean;
    regulations: string[];
  };
}

// Request Schema
export interface DecryptDataRequest {
  encryptedData: {
    /** With `fields` (CIFER's extension), the object `encrypt` returned. */
    value: string | Record<string, unknown>;
    keyId: string;
    keyVersion: string;
    algorithm: string;
    iv: string;
    authTag?: string;
    compressionUsed?: boolean;
    /** CIFER's extension: open these fields, each on its own. */
    fields?: string[];
  };
  userId: string;
  accessPurpose: string;
  additionalAuthenticatedData?: string;
}

/** CIFER's extension: a field that did not open, and why (it stays sealed in `data`). */
export interface FailedField {
  field: string;
  error: { code: string; message: string };
}

// Response Schema
export interface DecryptDataResponse {
  data: string | object;
  decryptionMetadata: {
    timestamp: string; // ISO 8601
    keyUsed: string;
    dataIntegrityVerified: boolean;
    decompressionApplied: boolean;
    /** CIFER's extension, with `fields`: those that did not open. */
    failedFields?: FailedField[];
  };
  accessLogged: boolean;
  compliance: {
    auditRecordId: string;
    dataAccess: {
      purpose: string;
      authorized: boolean;
      consentVerified: boolean;
    };
  };
}

// Request Schema
export interface BatchEncryptRequest {
  operations: EncryptOperation[];
  batchId?: string;
  priority: 'low' | 'normal' | 'high' | 'urgent';
  callback?: {
    url: string;
    authentication: string;
  };
}

export interface EncryptOperation {
  operationId: string;
  data: string | object;
  dataType: string;
  userId: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the seed's own type
  context?: any;
  /** CIFER's extension: every other field of `EncryptDataRequest` is taken too. */
  compression?: boolean;
  additionalAuthenticatedData?: string;
  keyId?: string;
  fields?: string[];
}

// Response Schema
export interface BatchEncryptResponse {
  batchId: string;
  status: 'queued' | 'processing' | 'completed' | 'failed';
  operations: BatchOperationResult[];
  summary: {
    total: number;
    successful: number;
    failed: number;
    estimatedCompletion?: string; // ISO 8601
  };
}

export interface BatchOperationResult {
  operationId: string;
  status: 'pending' | 'completed' | 'failed';
  result?: EncryptDataResponse;
  error?: {
    code: string;
    message: string;
    /** CIFER's extension: the seed 000 error body's details. */
    details?: Record<string, unknown>;
  };
}

// --- The calls ------------------------------------------------------------------------------

/** `confirmationCode` for `revokeKey`: `<keyId>:<keyVersion>` of the key as last read. */
export function revocationCode(key: { keyId: string; keyVersion: string | number }): string {
  return `${key.keyId}:${key.keyVersion}`;
}

/** The answer's `data` as the seed's type, once the fields every answer of that type has are there. */
function shaped<T>(data: Record<string, unknown>, required: readonly string[]): T {
  for (const field of required) {
    if (data[field] === undefined) throw invalidResponse(`${field} is missing`);
  }
  return data as T;
}

const KEY_FIELDS = ['keyId', 'keyVersion', 'algorithm', 'status'] as const;

/** `client.security`: seed 001's key management and data encryption. */
export class Security {
  constructor(private readonly transport: Transport) {}

  /** A key for one user's data of one type (a cifer named `keyType:userId`). Needs `cifer:create`. */
  async generateKey(request: GenerateKeyRequest, options: { idempotencyKey?: string } = {}): Promise<GenerateKeyResponse> {
    return shaped(await this.transport.call(E.SECURITY_GENERATE_KEY, E.pathOf(E.SECURITY_GENERATE_KEY), {
      json: request, idempotencyKey: options.idempotencyKey,
    }), KEY_FIELDS);
  }

  /** CIFER's extension: the user's unrevoked keys of a type, newest first (the first is what `encrypt` uses). */
  async findKeys(request: FindKeysRequest): Promise<FindKeysResponse> {
    const data = await this.transport.call(E.SECURITY_FIND_KEYS, E.pathOf(E.SECURITY_FIND_KEYS), {
      query: { userId: request.userId, keyType: request.keyType },
    });
    if (!Array.isArray(data['keys'])) throw invalidResponse('keys is not a list');
    return data as unknown as FindKeysResponse;
  }

  /** CIFER's extension: one unrevoked key, as generation answered it (with its current `keyVersion`). */
  async getKey(keyId: string): Promise<GenerateKeyResponse> {
    return shaped(await this.transport.call(E.SECURITY_GET_KEY, E.pathOf(E.SECURITY_GET_KEY, { keyId })), KEY_FIELDS);
  }

  /** A new version under the same `keyId`; the old one decrypts for `gracePeriodDays` (30 by default). */
  async rotateKey(keyId: string, request: RotateKeyRequest, options: { idempotencyKey?: string } = {}): Promise<RotateKeyResponse> {
    return shaped(await this.transport.call(E.SECURITY_ROTATE_KEY, E.pathOf(E.SECURITY_ROTATE_KEY, { keyId }), {
      json: request, idempotencyKey: options.idempotencyKey,
    }), ['oldKeyId', 'newKeyId']);
  }

  /** Irreversible. `confirmationCode` is `revocationCode(key)` of the key as last read: a stale one is refused. */
  async revokeKey(keyId: string, request: RevokeKeyRequest): Promise<RevokeKeyResponse> {
    return shaped(await this.transport.call(E.SECURITY_REVOKE_KEY, E.pathOf(E.SECURITY_REVOKE_KEY, { keyId }), {
      json: request,
    }), ['keyId', 'affectedData']);
  }

  /** Seals `data` in the sidecar to the user's newest key for `dataType` (or `keyId`). */
  async encrypt(request: EncryptDataRequest, options: { idempotencyKey?: string } = {}): Promise<EncryptDataResponse> {
    return shaped(await this.transport.call(E.SECURITY_ENCRYPT, E.pathOf(E.SECURITY_ENCRYPT), {
      json: request, idempotencyKey: options.idempotencyKey,
    }), ['encryptedData']);
  }

  /** Opens what `encrypt` sealed; `additionalAuthenticatedData` must be the same (else `InvalidCiphertextError`). */
  async decrypt(request: DecryptDataRequest, options: { idempotencyKey?: string } = {}): Promise<DecryptDataResponse> {
    return shaped(await this.transport.call(E.SECURITY_DECRYPT, E.pathOf(E.SECURITY_DECRYPT), {
      json: request, idempotencyKey: options.idempotencyKey,
    }), ['data', 'decryptionMetadata']);
  }

  /** Up to 1,000 encryptions, each answered on its own: a bad one fails alone, in its result. */
  async encryptBatch(request: BatchEncryptRequest, options: { idempotencyKey?: string } = {}): Promise<BatchEncryptResponse> {
    return shaped(await this.transport.call(E.SECURITY_ENCRYPT_BATCH, E.pathOf(E.SECURITY_ENCRYPT_BATCH), {
      json: request, idempotencyKey: options.idempotencyKey,
    }), ['batchId', 'status', 'operations', 'summary']);
  }
}
