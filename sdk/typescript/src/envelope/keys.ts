/**
 * The key schedule of envelope version 1 (docs/envelope.md, cifer/envelope/keys.py):
 *
 *     wrapping key = HKDF-SHA256(ikm=shared secret, salt="", info=lp("CIFER-v1 wrap") ||
 *                                lp(suite id u16) || lp(cifer id) || lp(key version u32))
 *     wrapped key  = AES-256-GCM(wrapping key, nonce=0^12, data key, aad=message header)
 *     commitment   = HKDF-SHA256(ikm=data key, salt=message id, info=lp("CIFER-v1 commit"))
 *     payload key  = HKDF-SHA256(ikm=data key, salt=message id, info=lp("CIFER-v1 payload"))
 *
 * The suite id is the whole u16 (payload AEAD and KEM). The wrapped key is AES-256-GCM whatever
 * the payload AEAD. HKDF is @noble/hashes (synchronous, three small calls per envelope); AES-GCM
 * is the platform's (aead.ts).
 */

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

import { concat, u16, u32, utf8 } from '../bytes.js';
import type { AeadFactory } from './aead.js';
import type { Suite } from './suites.js';

const LABEL_WRAP = utf8('CIFER-v1 wrap');
const LABEL_COMMIT = utf8('CIFER-v1 commit');
const LABEL_PAYLOAD = utf8('CIFER-v1 payload');
const ZERO_NONCE = new Uint8Array(12);

/** lp(x) = u16 length || x, for every part: no two contexts encode to the same bytes. */
function lp(...parts: Uint8Array[]): Uint8Array {
  return concat(parts.flatMap((part) => [u16(part.length), part]));
}

export function wrappingKey(sharedSecret: Uint8Array, suite: Suite, ciferId: string, keyVersion: number): Uint8Array {
  const info = lp(LABEL_WRAP, u16(suite.id), utf8(ciferId), u32(keyVersion));
  return hkdf(sha256, sharedSecret, undefined, info, 32);
}

export function commitment(dataKey: Uint8Array, messageId: Uint8Array): Uint8Array {
  return hkdf(sha256, dataKey, messageId, lp(LABEL_COMMIT), 32);
}

export function payloadKey(dataKey: Uint8Array, messageId: Uint8Array): Uint8Array {
  return hkdf(sha256, dataKey, messageId, lp(LABEL_PAYLOAD), 32);
}

/** The data key sealed under the wrapping key, bound to the message header. */
export async function wrapDataKey(
  aead: AeadFactory, wrapping: Uint8Array, dataKey: Uint8Array, messageHeader: Uint8Array,
): Promise<Uint8Array> {
  return concat(await (await aead(wrapping, messageHeader)).seal(ZERO_NONCE, dataKey));
}
