/**
 * The AEADs of an envelope (docs/envelope.md "Suites"): AES-256-GCM for the key slot in every
 * suite and for the payload of suites 00 xx, ChaCha20-Poly1305 (RFC 8439) for the payload of
 * suites 01 xx. Both take a 32-byte key and a 12-byte nonce and give ciphertext || 16-byte tag.
 *
 * - AES-256-GCM from the platform: node:crypto on Node (synchronous, no thread hop per chunk: a
 *   1 MiB seal of 16 chunks costs about what one WebCrypto call over the whole MiB does),
 *   WebCrypto elsewhere.
 * - ChaCha20-Poly1305: node:crypto on Node (OpenSSL: 13 times @noble/ciphers' speed here, 2.5 GB/s
 *   against 0.19), @noble/ciphers elsewhere, since WebCrypto has no ChaCha20-Poly1305.
 *
 * The tests run the golden vectors through both implementations of each.
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

import { isNode, load } from '../nodehttp.js';

/** The payload AEADs by the names the API uses (`aead`, seed 001's `algorithm`); the first is the default. */
export const AEAD_NAMES = ['AES-256-GCM', 'ChaCha20-Poly1305'] as const;
export type AeadName = (typeof AEAD_NAMES)[number];
export const DEFAULT_AEAD: AeadName = 'AES-256-GCM';

/**
 * One AEAD under one key with one associated data: what a wrapping key or a payload key
 * seals. The sealed bytes come in parts whose concatenation is ciphertext || tag, so node:crypto's
 * output and tag are never copied into one buffer only to be copied again into the envelope.
 */
export interface Aead {
  seal(nonce: Uint8Array, plaintext: Uint8Array): Uint8Array[] | Promise<Uint8Array[]>;
}

export type AeadFactory = (key: Uint8Array, associatedData: Uint8Array) => Promise<Aead>;

/** An implementation of each AEAD. */
export type Aeads = Readonly<Record<AeadName, AeadFactory>>;

export const webCryptoAesGcm: AeadFactory = async (key, associatedData) => {
  const imported = await globalThis.crypto.subtle.importKey('raw', key as BufferSource, 'AES-GCM', false, ['encrypt']);
  return {
    // WebCrypto copies `plaintext` before this returns, so the caller may reuse its buffer at once.
    seal: async (nonce, plaintext) => [new Uint8Array(await globalThis.crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: nonce as BufferSource, additionalData: associatedData as BufferSource, tagLength: 128 },
      imported, plaintext as BufferSource,
    ))],
  };
};

export const nobleChaCha20Poly1305: AeadFactory = async (key, associatedData) => {
  if (key.length !== 32) throw new Error('internal error: a ChaCha20-Poly1305 key is 32 bytes');
  const keyCopy = key.slice();
  // Synchronous: `plaintext` is read before this returns, so the caller may reuse its buffer at once.
  return { seal: (nonce, plaintext) => [chacha20poly1305(keyCopy, nonce, associatedData).encrypt(plaintext)] };
};

/** What browsers and edge runtimes use: WebCrypto's AES-GCM and @noble/ciphers' ChaCha20-Poly1305. */
export const PORTABLE_AEADS: Aeads = { 'AES-256-GCM': webCryptoAesGcm, 'ChaCha20-Poly1305': nobleChaCha20Poly1305 };

type NodeCipherName = 'aes-256-gcm' | 'chacha20-poly1305';
interface Cipher {
  setAAD(data: Uint8Array): void;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}
interface NodeCrypto {
  createCipheriv(algorithm: NodeCipherName, key: Uint8Array, iv: Uint8Array, options: { authTagLength: 16 }): Cipher;
  getCiphers(): string[];
}

function nodeCipher(createCipheriv: NodeCrypto['createCipheriv'], algorithm: NodeCipherName): AeadFactory {
  return async (key, associatedData) => {
    if (key.length !== 32) throw new Error('internal error: an envelope key is 32 bytes');
    return {
      seal(nonce, plaintext) {
        const cipher = createCipheriv(algorithm, key, nonce, { authTagLength: 16 });
        cipher.setAAD(associatedData);
        const body = cipher.update(plaintext);
        const last = cipher.final(); // empty for both AEADs, kept for form
        return last.length ? [body, last, cipher.getAuthTag()] : [body, cipher.getAuthTag()];
      },
    };
  };
}

async function nodeCryptoAeads(): Promise<Aeads> {
  const { createCipheriv, getCiphers } = await load<NodeCrypto>('node:crypto');
  // An OpenSSL built without ChaCha20 (rare) leaves @noble/ciphers' in its place.
  const chacha = getCiphers().includes('chacha20-poly1305') ? nodeCipher(createCipheriv, 'chacha20-poly1305') : nobleChaCha20Poly1305;
  return { 'AES-256-GCM': nodeCipher(createCipheriv, 'aes-256-gcm'), 'ChaCha20-Poly1305': chacha };
}

let platform: Promise<Aeads> | undefined;

/** node:crypto's on Node, the portable ones elsewhere; chosen once. */
export function platformAeads(): Promise<Aeads> {
  platform ??= isNode ? nodeCryptoAeads() : Promise.resolve(PORTABLE_AEADS);
  return platform;
}
