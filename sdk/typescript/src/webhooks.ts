/**
 * Checking that a webhook delivery comes from CIFER (seed §7.3), before parsing its body;
 * cifer/sdk/webhooks.py is the Python twin. Two headers arrive on every delivery:
 *
 * - `X-Cifer-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, the seed's. It signs the body
 *   only, so a captured delivery can be replayed as it is.
 * - `X-Cifer-Signature-V2: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." || body)>`. The
 *   timestamp is signed too: deliveries older than the tolerance are refused; deduplicate on
 *   `X-Cifer-Event-Id` as well to be safe from replays.
 *
 * Comparisons are constant-time; anything malformed is `false`, never an exception.
 */

import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

import { concat, timingSafeEqual, toHex, utf8, isBytes } from './bytes.js';

export const SIGNATURE_HEADER = 'X-Cifer-Signature';
export const SIGNATURE_V2_HEADER = 'X-Cifer-Signature-V2';
export const EVENT_ID_HEADER = 'X-Cifer-Event-Id';
export const DEFAULT_TOLERANCE_S = 300;
const MAX_SIGNATURE_HEADER_CHARS = 4096;

export interface VerifyOptions {
  /** Seconds a timestamped signature stays valid either side of now; 300 by default. */
  toleranceS?: number;
  /** The current time in unix seconds (for tests); the clock by default. */
  now?: number;
}

function hmacHex(secret: string, message: Uint8Array): string {
  return toHex(hmac(sha256, utf8(secret), message));
}

function equal(expected: string, given: string): boolean {
  return /^[\x20-\x7e]*$/.test(given) && timingSafeEqual(utf8(expected), utf8(given));
}

/**
 * True if `signatureHeader` (either header's value) signs `payload`, the raw body bytes, under
 * `secret`. A `t=...,v1=...` value must also carry a timestamp within the tolerance; several
 * `v1=` entries are accepted, one per secret while a secret is being changed.
 */
export function verifyWebhookSignature(
  payload: Uint8Array | string, signatureHeader: string | null | undefined, secret: string, options: VerifyOptions = {},
): boolean {
  if (typeof signatureHeader !== 'string' || signatureHeader.length > MAX_SIGNATURE_HEADER_CHARS) return false;
  if (typeof secret !== 'string' || secret.length === 0) return false;
  const body = typeof payload === 'string' ? utf8(payload) : payload;
  if (!isBytes(body)) return false;
  const header = signatureHeader.trim();
  if (header.startsWith('sha256=')) return equal('sha256=' + hmacHex(secret, body), header);
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    if (at < 0) return false;
    const name = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (name === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return false;
      timestamp = Number(value);
    } else if (name === 'v1') {
      candidates.push(value);
    }
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  const now = options.now ?? Date.now() / 1000;
  if (Math.abs(now - timestamp) > (options.toleranceS ?? DEFAULT_TOLERANCE_S)) return false;
  const expected = hmacHex(secret, concat([utf8(`${timestamp}.`), body]));
  let ok = false;
  for (const candidate of candidates) ok = equal(expected, candidate) || ok; // every candidate checked: no early exit
  return ok;
}
