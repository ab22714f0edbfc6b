/**
 * The bytes of an envelope header, version 1: docs/envelope.md is the byte table, and
 * cifer/envelope/format.py the Python twin. This SDK only writes envelopes (decryption goes
 * through the API), so this module encodes and never parses. Integers are big-endian;
 * fields 1-10 are the message header, fields 11-13 the key slot.
 */

import { concat, u16, u32, utf8 } from '../bytes.js';
import type { Suite } from './suites.js';

export const MAGIC = new Uint8Array([0x43, 0x49, 0x46, 0x52]); // "CIFR"
export const FORMAT_VERSION = 1;
export const CIFER_ID_RE = /^cif_[A-Za-z0-9]{12,60}$/; // the API's id pattern, capped at 64 characters
export const MIN_CHUNK_LOG2 = 10; // 1 KiB .. 1 MiB: bounds a reader's memory
export const MAX_CHUNK_LOG2 = 20;
export const DEFAULT_CHUNK_SIZE = 1 << 16; // 64 KiB, as age
export const MESSAGE_ID_BYTES = 16;
export const MAX_METADATA_BYTES = 4096;
export const COMMITMENT_BYTES = 32;
export const DATA_KEY_BYTES = 32;
export const WRAPPED_KEY_BYTES = DATA_KEY_BYTES + 16; // AES-256-GCM ciphertext and tag
export const MAX_KEY_VERSION = 2 ** 32 - 1;

/** Metadata of an envelope: a flat map of strings, authenticated but not secret. */
export type Metadata = Readonly<Record<string, string>>;

function compareCodePoints(a: string, b: string): number {
  // Python sorts str by code point; JavaScript's default compares UTF-16 units, which differs past U+FFFF.
  const ca = Array.from(a, (c) => c.codePointAt(0) as number);
  const cb = Array.from(b, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] !== cb[i]) return (ca[i] as number) - (cb[i] as number);
  }
  return ca.length - cb.length;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Canonical JSON (keys sorted by code point, no whitespace, UTF-8); the empty map is zero bytes. */
export function encodeMetadata(metadata: Metadata | undefined): Uint8Array {
  if (!metadata) return new Uint8Array(0);
  const keys = Object.keys(metadata);
  if (keys.length === 0) return new Uint8Array(0);
  for (const key of keys) {
    const value = metadata[key];
    if (typeof value !== 'string') throw new TypeError('metadata keys and values must be strings');
    if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) throw new TypeError('metadata must be valid Unicode');
  }
  keys.sort(compareCodePoints);
  const text = '{' + keys.map((k) => JSON.stringify(k) + ':' + JSON.stringify(metadata[k])).join(',') + '}';
  const encoded = utf8(text);
  if (encoded.length > MAX_METADATA_BYTES) {
    throw new RangeError(`metadata is ${encoded.length} bytes encoded; the limit is ${MAX_METADATA_BYTES}`);
  }
  return encoded;
}

export function checkCiferId(ciferId: string): void {
  if (typeof ciferId !== 'string' || !CIFER_ID_RE.test(ciferId)) {
    throw new TypeError('cifer id must match ^cif_[A-Za-z0-9]{12,60}$');
  }
}

/** log2 of a chunk size, which must be a power of two in 1 KiB .. 1 MiB. */
export function chunkLog2(chunkSize: number): number {
  const log2 = Math.log2(chunkSize);
  if (!Number.isInteger(log2) || log2 < MIN_CHUNK_LOG2 || log2 > MAX_CHUNK_LOG2) {
    throw new RangeError(`chunk size must be a power of two from 2**${MIN_CHUNK_LOG2} to 2**${MAX_CHUNK_LOG2} bytes`);
  }
  return log2;
}

/** Fields 1-10: the associated data of the key slot and of every payload chunk. */
export function encodeMessageHeader(fields: {
  suite: Suite; chunkSize: number; ciferId: string; messageId: Uint8Array; metadata: Uint8Array; commitment: Uint8Array;
}): Uint8Array {
  checkCiferId(fields.ciferId);
  const log2 = chunkLog2(fields.chunkSize);
  if (fields.messageId.length !== MESSAGE_ID_BYTES || fields.commitment.length !== COMMITMENT_BYTES) {
    throw new Error('internal error: message id or commitment has the wrong length');
  }
  if (fields.metadata.length > MAX_METADATA_BYTES) throw new RangeError('metadata too long');
  const id = utf8(fields.ciferId);
  return concat([
    MAGIC, u16(FORMAT_VERSION), u16(fields.suite.id), new Uint8Array([log2, id.length]),
    id, fields.messageId, u16(fields.metadata.length), fields.metadata, fields.commitment,
  ]);
}

/** Fields 11-13: what a rewrap replaces. */
export function encodeKeySlot(suite: Suite, keyVersion: number, kemCiphertext: Uint8Array, wrappedKey: Uint8Array): Uint8Array {
  if (!Number.isInteger(keyVersion) || keyVersion < 1 || keyVersion > MAX_KEY_VERSION) {
    throw new RangeError('key version must be 1 .. 2**32-1');
  }
  if (kemCiphertext.length !== suite.ciphertextBytes || wrappedKey.length !== WRAPPED_KEY_BYTES) {
    throw new Error('internal error: key slot sizes do not match the suite');
  }
  return concat([u32(keyVersion), kemCiphertext, wrappedKey]);
}
