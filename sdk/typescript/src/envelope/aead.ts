/**
 * AES-256-GCM for the key slot and the STREAM chunks, from the platform: node:crypto on Node
 * (synchronous, no thread hop per chunk: a 1 MiB seal of 16 chunks costs about what one
 * WebCrypto call over the whole MiB does), WebCrypto elsewhere. Both give ciphertext || tag.
 * The tests run the golden vectors through both.
 */

import { isNode, load } from '../nodehttp.js';

/**
 * AES-256-GCM under one key with one associated data: what a wrapping key or a payload key
 * seals. The sealed bytes come in parts whose concatenation is ciphertext || tag, so node:crypto's
 * output and tag are never copied into one buffer only to be copied again into the envelope.
 */
export interface Aead {
  seal(nonce: Uint8Array, plaintext: Uint8Array): Uint8Array[] | Promise<Uint8Array[]>;
}

export type AeadFactory = (key: Uint8Array, associatedData: Uint8Array) => Promise<Aead>;

export const webCryptoAead: AeadFactory = async (key, associatedData) => {
  const imported = await globalThis.crypto.subtle.importKey('raw', key as BufferSource, 'AES-GCM', false, ['encrypt']);
  return {
    // WebCrypto copies `plaintext` before this returns, so the caller may reuse its buffer at once.
    seal: async (nonce, plaintext) => [new Uint8Array(await globalThis.crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: nonce as BufferSource, additionalData: associatedData as BufferSource, tagLength: 128 },
      imported, plaintext as BufferSource,
    ))],
  };
};

interface Cipher {
  setAAD(data: Uint8Array): void;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}
interface NodeCrypto {
  createCipheriv(algorithm: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array): Cipher;
}

async function nodeCryptoAead(): Promise<AeadFactory> {
  const { createCipheriv } = await load<NodeCrypto>('node:crypto');
  return async (key, associatedData) => {
    if (key.length !== 32) throw new Error('internal error: an AES-256 key is 32 bytes');
    return {
      seal(nonce, plaintext) {
        const cipher = createCipheriv('aes-256-gcm', key, nonce);
        cipher.setAAD(associatedData);
        const body = cipher.update(plaintext);
        const last = cipher.final(); // empty for GCM, kept for form
        return last.length ? [body, last, cipher.getAuthTag()] : [body, cipher.getAuthTag()];
      },
    };
  };
}

let platform: Promise<AeadFactory> | undefined;

/** node:crypto's on Node, WebCrypto's elsewhere; chosen once. */
export function platformAead(): Promise<AeadFactory> {
  platform ??= isNode ? nodeCryptoAead() : Promise.resolve(webCryptoAead);
  return platform;
}
