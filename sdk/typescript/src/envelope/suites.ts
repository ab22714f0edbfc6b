/**
 * The suites (docs/envelope.md field 3): which KEM seals an envelope's data key (the low byte)
 * and which AEAD seals its payload (the high byte: 00 AES-256-GCM, 01 ChaCha20-Poly1305), as
 * cifer/crypto/suites.py has them. Only the encapsulation side lives here: decapsulation needs a
 * private key, and private keys never leave the key service. Public keys arrive as the API's
 * SubjectPublicKeyInfo DER, the same for either AEAD: a cifer's key pair is its KEM alone.
 */

import { ml_kem1024, ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';

import { concat, timingSafeEqual, toHex } from '../bytes.js';
import { InvalidKeyError } from '../errors.js';
import { AEAD_NAMES, type AeadName, DEFAULT_AEAD } from './aead.js';

export interface Encapsulation {
  sharedSecret: Uint8Array;
  kemCiphertext: Uint8Array;
}

export interface Suite {
  /** The u16 written into every envelope: high byte the payload AEAD, low byte the KEM. */
  readonly id: number;
  /** The KEM's name as the API reports it (`algorithm`, `key_algorithm`). */
  readonly name: 'ML-KEM-768' | 'ML-KEM-1024' | 'X-Wing';
  /** The payload AEAD (the API's `aead`); the key slot is AES-256-GCM in every suite. */
  readonly aead: AeadName;
  readonly publicKeyBytes: number;
  readonly ciphertextBytes: number;
  /** Everything in the SubjectPublicKeyInfo before the raw key: fixed, since the key length is. */
  readonly spkiPrefix: Uint8Array;
  encapsulate(publicKey: Uint8Array): Encapsulation;
}

function der(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let length: number[];
  if (n < 0x80) length = [n];
  else if (n < 0x100) length = [0x81, n];
  else length = [0x82, n >>> 8, n & 0xff];
  return concat([new Uint8Array([tag, ...length]), content]);
}

/** SEQUENCE { SEQUENCE { OID }, BIT STRING (0 unused bits) key }, minus the key bytes. */
function spkiPrefix(oid: number[], keyBytes: number): Uint8Array {
  const algorithm = der(0x30, der(0x06, new Uint8Array(oid)));
  const whole = der(0x30, concat([algorithm, der(0x03, new Uint8Array(1 + keyBytes))]));
  return whole.subarray(0, whole.length - keyBytes);
}

interface NobleKem {
  encapsulate(publicKey: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array };
  /** ML-KEM only: the public key checked and expanded once (H(ek), t̂, Â), for many encapsulations. */
  prepare?(publicKey: Uint8Array): { encapsulate(): { cipherText: Uint8Array; sharedSecret: Uint8Array } };
}

type Encapsulator = () => { cipherText: Uint8Array; sharedSecret: Uint8Array };

const PREPARED_KEYS = 64; // a client seals to a few CIFERs all day; the oldest expanded key goes first

/**
 * Expanded public keys, most recently used last. Expansion halves an ML-KEM-768 encapsulation
 * (0.4 to 0.2 ms). Only public data is kept. Keyed by the KEM (a suite's low byte: both AEADs
 * share a key) and the key's first 32 bytes, and checked against the whole key on every hit.
 */
const prepared = new Map<string, { publicKey: Uint8Array; encapsulate: Encapsulator }>();

function encapsulatorFor(kemId: number, kem: NobleKem, publicKey: Uint8Array): Encapsulator {
  if (!kem.prepare) return () => kem.encapsulate(publicKey);
  const key = `${kemId}:${toHex(publicKey.subarray(0, 32))}`;
  const found = prepared.get(key);
  if (found && found.publicKey.length === publicKey.length && found.publicKey.every((b, i) => b === publicKey[i])) {
    prepared.delete(key);
    prepared.set(key, found);
    return found.encapsulate;
  }
  const expanded = kem.prepare(publicKey);
  const entry = { publicKey: publicKey.slice(), encapsulate: () => expanded.encapsulate() };
  prepared.delete(key);
  prepared.set(key, entry);
  if (prepared.size > PREPARED_KEYS) prepared.delete(prepared.keys().next().value as string);
  return entry.encapsulate;
}

function suite(
  kemId: number, name: Suite['name'], kem: NobleKem, oid: number[], publicKeyBytes: number, ciphertextBytes: number,
  aead: AeadName = DEFAULT_AEAD,
): Suite {
  return {
    id: (AEAD_NAMES.indexOf(aead) << 8) | kemId, name, aead, publicKeyBytes, ciphertextBytes,
    spkiPrefix: spkiPrefix(oid, publicKeyBytes),
    encapsulate(publicKey: Uint8Array): Encapsulation {
      if (publicKey.length !== publicKeyBytes) throw new InvalidKeyError(`${name} public key must be ${publicKeyBytes} bytes`);
      let result: { cipherText: Uint8Array; sharedSecret: Uint8Array };
      try {
        result = encapsulatorFor(kemId, kem, publicKey)();
      } catch {
        throw new InvalidKeyError(`not a valid ${name} public key`);
      }
      return { sharedSecret: result.sharedSecret, kemCiphertext: result.cipherText };
    },
  };
}

// id-alg-ml-kem-768 / -1024 (2.16.840.1.101.3.4.4.2 / .3, FIPS 203) and id-XWing (1.3.6.1.4.1.62253.25722).
const NIST_KEM = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04];
const ML_KEM_768_OID = [...NIST_KEM, 0x02];
const ML_KEM_1024_OID = [...NIST_KEM, 0x03];
const X_WING_OID = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xe6, 0x2d, 0x81, 0xc8, 0x7a];
const CHACHA: AeadName = 'ChaCha20-Poly1305';
export const ML_KEM_768: Suite = suite(0x01, 'ML-KEM-768', ml_kem768, ML_KEM_768_OID, 1184, 1088);
export const ML_KEM_1024: Suite = suite(0x02, 'ML-KEM-1024', ml_kem1024, ML_KEM_1024_OID, 1568, 1568);
export const X_WING: Suite = suite(0x03, 'X-Wing', ml_kem768_x25519, X_WING_OID, 1216, 1120);
export const ML_KEM_768_CHACHA20_POLY1305: Suite = suite(0x01, 'ML-KEM-768', ml_kem768, ML_KEM_768_OID, 1184, 1088, CHACHA);
export const ML_KEM_1024_CHACHA20_POLY1305: Suite = suite(0x02, 'ML-KEM-1024', ml_kem1024, ML_KEM_1024_OID, 1568, 1568, CHACHA);
export const X_WING_CHACHA20_POLY1305: Suite = suite(0x03, 'X-Wing', ml_kem768_x25519, X_WING_OID, 1216, 1120, CHACHA);

/** 0x0001 .. 0x0003 (AES-256-GCM) and 0x0101 .. 0x0103 (ChaCha20-Poly1305). */
export const SUITES: readonly Suite[] = [
  ML_KEM_768, ML_KEM_1024, X_WING, ML_KEM_768_CHACHA20_POLY1305, ML_KEM_1024_CHACHA20_POLY1305, X_WING_CHACHA20_POLY1305,
];

export function suiteById(id: number): Suite | undefined {
  return SUITES.find((s) => s.id === id);
}

/** The suite of a KEM (`algorithm`) and a payload AEAD (`aead`, AES-256-GCM when not given). */
export function suiteByName(name: string, aead: string = DEFAULT_AEAD): Suite {
  if (!(AEAD_NAMES as readonly string[]).includes(aead)) {
    throw new InvalidKeyError(`unknown aead ${JSON.stringify(aead)}; expected AES-256-GCM or ChaCha20-Poly1305`);
  }
  const found = SUITES.find((s) => s.name === name && s.aead === aead);
  if (!found) throw new InvalidKeyError(`unknown algorithm ${JSON.stringify(name)}; expected ML-KEM-768, ML-KEM-1024 or X-Wing`);
  return found;
}

/** The raw public key inside a SubjectPublicKeyInfo DER of this suite; InvalidKeyError otherwise. */
export function publicKeyFromSpki(suiteOf: Suite, spki: Uint8Array): Uint8Array {
  const prefix = suiteOf.spkiPrefix;
  if (spki.length !== prefix.length + suiteOf.publicKeyBytes || !timingSafeEqual(spki.subarray(0, prefix.length), prefix)) {
    throw new InvalidKeyError(`not a ${suiteOf.name} SubjectPublicKeyInfo`);
  }
  return spki.slice(prefix.length);
}
