/**
 * What the SDK returns: each answer's `data` parsed once, at the edge, into typed objects
 * (cifer/sdk/models.py is the Python twin). Base64 fields become bytes and timestamps Dates;
 * `raw` keeps the answer's `data` so fields a newer server adds are not lost.
 */

import { fromBase64, toBase64, toHex } from './bytes.js';
import { invalidResponse } from './errors.js';

/** Bytes whose `toString()` is their UTF-8 text, as a Node Buffer's is (`decrypted.plaintext.toString()`). */
export class Bytes extends Uint8Array {
  /** The same memory seen as Bytes (no copy). */
  static view(bytes: Uint8Array): Bytes {
    return new Bytes(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length);
  }

  override toString(encoding: 'utf8' | 'utf-8' | 'base64' | 'hex' = 'utf8'): string {
    if (encoding === 'base64') return toBase64(this);
    if (encoding === 'hex') return toHex(this);
    return new TextDecoder().decode(this);
  }

  toJSON(): string {
    return toBase64(this);
  }
}

type Data = Record<string, unknown>;

function str(data: Data, key: string): string | undefined {
  const value = data[key];
  return typeof value === 'string' ? value : undefined;
}

function int(data: Data, key: string): number | undefined {
  const value = data[key];
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

function obj(data: Data, key: string): Record<string, unknown> {
  const value = data[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as Data) } : {};
}

function time(data: Data, key: string): Date | undefined {
  const value = data[key];
  if (typeof value !== 'string') return undefined;
  const when = new Date(value);
  return Number.isNaN(when.getTime()) ? undefined : when;
}

function requiredStr(data: Data, key: string): string {
  const value = str(data, key);
  if (value === undefined) throw invalidResponse(`${key} is missing`);
  return value;
}

export function b64(value: unknown, field: string): Bytes {
  const bytes = typeof value === 'string' ? fromBase64(value) : null;
  if (!bytes) throw invalidResponse(`${field} is not valid base64`);
  return Bytes.view(bytes);
}

function list(data: Data, key: string): Data[] {
  const value = data[key];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'object' && item !== null && !Array.isArray(item))) {
    throw invalidResponse(`${key} is not a list of objects`);
  }
  return value as Data[];
}

/** A CIFER encryption identity (seed §4.1, §4.2). `id` is the answer's `cifer_id`. */
export interface Cifer {
  id: string;
  name: string | undefined;
  description: string | undefined;
  status: string | undefined;
  ownerId: string | undefined;
  keyVersion: number | undefined;
  keyAlgorithm: string | undefined;
  /** The payload AEAD of its envelopes: AES-256-GCM or ChaCha20-Poly1305 (CIFER's extension). */
  aead: string | undefined;
  /** Nothing is sealed to it from then on; it still decrypts (seed 001's expiry). */
  expiresAt: Date | undefined;
  /** DER SubjectPublicKeyInfo; only create returns it. */
  encapsulationKey: Bytes | undefined;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
  metadata: Record<string, unknown>;
  policy: Record<string, unknown>;
  statistics: Record<string, unknown>;
  nextRotationAt: Date | undefined;
  keyCreatedAt: Date | undefined;
  raw: Data;
}

export function cifer(data: Data): Cifer {
  return {
    id: requiredStr(data, 'cifer_id'), name: str(data, 'name'), description: str(data, 'description'),
    status: str(data, 'status'), ownerId: str(data, 'owner_id'), keyVersion: int(data, 'key_version'),
    keyAlgorithm: str(data, 'key_algorithm'), aead: str(data, 'aead'), expiresAt: time(data, 'expires_at'),
    encapsulationKey: data['encapsulation_key'] == null ? undefined : b64(data['encapsulation_key'], 'encapsulation_key'),
    createdAt: time(data, 'created_at'), updatedAt: time(data, 'updated_at'), metadata: obj(data, 'metadata'),
    policy: obj(data, 'policy'), statistics: obj(data, 'statistics'), nextRotationAt: time(data, 'next_rotation_at'),
    keyCreatedAt: time(data, 'key_created_at'), raw: data,
  };
}

export interface Page<T> {
  items: T[];
  hasMore: boolean;
  /** Pass as `cursor` for the next page. */
  nextCursor: string | undefined;
  raw: Data;
}

export interface CiferPage extends Page<Cifer> { cifers: Cifer[] }

export function ciferPage(data: Data): CiferPage {
  const items = list(data, 'cifers').map(cifer);
  return { items, cifers: items, hasMore: data['has_more'] === true, nextCursor: str(data, 'next_cursor'), raw: data };
}

/** Seed §4.5: the old version decrypts until `reEncryptionDeadline`. */
export interface Rotation {
  ciferId: string;
  oldKeyVersion: number | undefined;
  newKeyVersion: number | undefined;
  newEncapsulationKey: Bytes | undefined;
  rotationInitiatedAt: Date | undefined;
  reEncryptionDeadline: Date | undefined;
  raw: Data;
}

export function rotation(data: Data): Rotation {
  return {
    ciferId: requiredStr(data, 'cifer_id'), oldKeyVersion: int(data, 'old_key_version'),
    newKeyVersion: int(data, 'new_key_version'),
    newEncapsulationKey: data['new_encapsulation_key'] == null ? undefined : b64(data['new_encapsulation_key'], 'new_encapsulation_key'),
    rotationInitiatedAt: time(data, 'rotation_initiated_at'), reEncryptionDeadline: time(data, 're_encryption_deadline'),
    raw: data,
  };
}

/** Seed §4.6. */
export interface Revocation {
  ciferId: string;
  status: string | undefined;
  revokedAt: Date | undefined;
  warning: string | undefined;
  raw: Data;
}

export function revocation(data: Data): Revocation {
  return { ciferId: requiredStr(data, 'cifer_id'), status: str(data, 'status'), revokedAt: time(data, 'revoked_at'),
           warning: str(data, 'warning'), raw: data };
}

/** A CIFER's current public key (seed §4.7): all that `sealLocally` needs. */
export interface PublicKey {
  ciferId: string;
  /** DER SubjectPublicKeyInfo. */
  encapsulationKey: Bytes;
  keyVersion: number;
  /** The KEM. */
  algorithm: string;
  /** The payload AEAD to seal with (CIFER's extension); AES-256-GCM from a server that does not say. */
  aead: string;
  validUntil: Date | undefined;
  /** Nothing is sealed to the key from then on (`sealLocally` refuses, as the API does); it still decrypts. */
  expiresAt: Date | undefined;
  raw: Data;
}

export function publicKey(data: Data): PublicKey {
  const keyVersion = int(data, 'key_version');
  if (keyVersion === undefined) throw invalidResponse('key_version is missing');
  return {
    ciferId: requiredStr(data, 'cifer_id'), encapsulationKey: b64(data['encapsulation_key'], 'encapsulation_key'),
    keyVersion, algorithm: requiredStr(data, 'algorithm'), aead: str(data, 'aead') ?? 'AES-256-GCM',
    validUntil: time(data, 'valid_until'), expiresAt: time(data, 'expires_at'), raw: data,
  };
}

/** Seed §4.3. `ciphertext` is the raw envelope (the API sends base64; it is decoded here). */
export interface EncryptResult {
  ciphertext: Bytes;
  envelopeSize: number;
  algorithm: { kem: string | undefined; aead: string | undefined };
  metadata: Record<string, unknown>;
  ciferId: string | undefined;
  keyVersion: number | undefined;
  raw: Data;
}

export function encryptResult(data: Data): EncryptResult {
  if ((data['encoding'] ?? 'base64') !== 'base64') throw invalidResponse('ciphertext encoding is not base64');
  const ciphertext = b64(data['ciphertext'], 'ciphertext');
  const algorithm = obj(data, 'algorithm');
  return {
    ciphertext, envelopeSize: int(data, 'envelope_size') ?? ciphertext.length,
    algorithm: { kem: str(algorithm, 'kem'), aead: str(algorithm, 'aead') }, metadata: obj(data, 'metadata'),
    ciferId: str(data, 'cifer_id'), keyVersion: int(data, 'key_version'), raw: data,
  };
}

/** Seed §4.4: the plaintext, and which key version of which CIFER opened it. No `raw`: it would hold the plaintext twice. */
export interface DecryptResult {
  plaintext: Bytes;
  ciferId: string | undefined;
  keyVersion: number | undefined;
  metadata: Record<string, unknown>;
}

export function decryptResult(data: Data): DecryptResult {
  if ((data['encoding'] ?? 'base64') !== 'base64') throw invalidResponse('plaintext encoding is not base64');
  return { plaintext: b64(data['plaintext'], 'plaintext'), ciferId: str(data, 'cifer_id'),
           keyVersion: int(data, 'key_version'), metadata: obj(data, 'metadata') };
}

/** A registered webhook endpoint (seed §7.4). Its secret is never returned. */
export interface Webhook {
  id: string;
  url: string | undefined;
  events: string[];
  createdAt: Date | undefined;
  /** Only events about these CIFERs are delivered; undefined: every CIFER of the owner. */
  ciferIds: string[] | undefined;
  raw: Data;
}

export function webhook(data: Data): Webhook {
  const events = data['events'];
  const ids = data['cifer_ids'];
  return {
    id: requiredStr(data, 'id'), url: str(data, 'url'),
    events: Array.isArray(events) ? events.filter((e): e is string => typeof e === 'string') : [],
    createdAt: time(data, 'created_at'),
    ciferIds: Array.isArray(ids) ? ids.filter((e): e is string => typeof e === 'string') : undefined, raw: data,
  };
}

export interface WebhookPage extends Page<Webhook> { webhooks: Webhook[] }

export function webhookPage(data: Data): WebhookPage {
  const items = list(data, 'webhooks').map(webhook);
  return { items, webhooks: items, hasMore: data['has_more'] === true, nextCursor: str(data, 'next_cursor'), raw: data };
}

export interface WebhookDeletion { id: string; deleted: boolean; deletedAt: Date | undefined; raw: Data }

export function webhookDeletion(data: Data): WebhookDeletion {
  return { id: requiredStr(data, 'id'), deleted: data['deleted'] === true, deletedAt: time(data, 'deleted_at'), raw: data };
}

/** One event's delivery to one webhook. */
export interface Delivery {
  eventId: string;
  type: string | undefined;
  status: string | undefined;
  attempts: number | undefined;
  created: Date | undefined;
  nextAttemptAt: Date | undefined;
  deliveredAt: Date | undefined;
  lastError: string | undefined;
  raw: Data;
}

export function deliveries(data: Data): Delivery[] {
  return list(data, 'deliveries').map((item) => ({
    eventId: requiredStr(item, 'event_id'), type: str(item, 'type'), status: str(item, 'status'),
    attempts: int(item, 'attempts'), created: time(item, 'created'), nextAttemptAt: time(item, 'next_attempt_at'),
    deliveredAt: time(item, 'delivered_at'), lastError: str(item, 'last_error'), raw: item,
  }));
}
