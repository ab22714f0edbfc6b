/**
 * Sealing envelopes in-process (docs/envelope.md "Encrypting", steps 1-7), byte-compatible
 * with cifer/envelope/seal.py. Encryption needs only a public key, so a browser or an edge
 * function can seal to a CIFER with no sidecar. Opening always goes through the API: private
 * keys never leave the key service, so there is no local decrypt here.
 */

import { concat, fromBase64, randomBytes, isBytes } from '../bytes.js';
import { InvalidKeyError, PermissionDeniedError } from '../errors.js';
import {
  DATA_KEY_BYTES, DEFAULT_CHUNK_SIZE, MESSAGE_ID_BYTES, type Metadata, checkCiferId, chunkLog2, encodeKeySlot,
  encodeMessageHeader, encodeMetadata,
} from './format.js';
import { type Aeads, platformAeads } from './aead.js';
import { commitment, payloadKey, wrapDataKey, wrappingKey } from './keys.js';
import { PayloadSealer } from './stream.js';
import { SUITES, type Suite, publicKeyFromSpki, suiteByName } from './suites.js';
import { type ByteSource, pieces } from '../iterate.js';

/**
 * A CIFER's public key at one version: what `client.keys.get(id)` returns (seed §4.7), or the
 * same fields from anywhere else (a config file, a build step). `encapsulationKey` is the DER
 * SubjectPublicKeyInfo, as bytes or as the API's base64 text.
 */
export interface PublicKeyInput {
  ciferId: string;
  keyVersion: number;
  /** The KEM: ML-KEM-768, ML-KEM-1024 or X-Wing. */
  algorithm: string;
  encapsulationKey: Uint8Array | string;
  /** The payload AEAD the CIFER seals with: AES-256-GCM (when absent) or ChaCha20-Poly1305. */
  aead?: string | undefined;
  /** Nothing is sealed to the key from this instant on (seed 001's expiry); it still decrypts. */
  expiresAt?: Date | string | null | undefined;
}

export interface SealOptions {
  /** Authenticated, non-secret strings carried in the header (at most 4096 bytes as canonical JSON). */
  metadata?: Metadata;
  /** Plaintext bytes per STREAM chunk: a power of two, 1 KiB .. 1 MiB; 64 KiB by default. */
  chunkSize?: number;
}

/** Every random input of one encryption, fixed: for known-answer vectors only, never for data. */
export interface UnsafeRandomness {
  dataKey: Uint8Array;
  messageId: Uint8Array;
  sharedSecret: Uint8Array;
  kemCiphertext: Uint8Array;
}

/** A checked recipient: suite and raw public key resolved once. */
export interface Recipient {
  ciferId: string;
  keyVersion: number;
  suite: Suite;
  publicKey: Uint8Array;
}

/**
 * The key's expiry, as the sidecar judges it by its own clock: from `expiresAt` on, nothing is
 * sealed to it (403 FORBIDDEN from the API; the same error here).
 */
function checkNotExpired(key: PublicKeyInput): void {
  if (key.expiresAt == null) return;
  const expires = key.expiresAt instanceof Date ? key.expiresAt : new Date(key.expiresAt);
  if (Number.isNaN(expires.getTime())) throw new InvalidKeyError('expiresAt is not a time');
  if (Date.now() >= expires.getTime()) {
    throw new PermissionDeniedError('the key has expired: nothing more is sealed to it (it still decrypts)', {
      code: 'FORBIDDEN', details: { cifer_id: key.ciferId, expired_at: expires.toISOString().replace(/\.\d{3}Z$/, 'Z') },
    });
  }
}

export function recipientOf(key: PublicKeyInput): Recipient {
  checkCiferId(key.ciferId);
  checkNotExpired(key);
  const suite = suiteByName(key.algorithm, key.aead ?? undefined);
  const der = typeof key.encapsulationKey === 'string' ? fromBase64(key.encapsulationKey) : key.encapsulationKey;
  if (!der) throw new InvalidKeyError('encapsulationKey is not valid base64');
  return { ciferId: key.ciferId, keyVersion: key.keyVersion, suite, publicKey: publicKeyFromSpki(suite, der) };
}

/** One message being sealed: its header bytes, then a sealer for the payload. */
export async function startEnvelope(
  recipient: Recipient, options: SealOptions = {}, unsafeRandomness?: UnsafeRandomness, aeads?: Aeads,
): Promise<{ header: Uint8Array; sealer: PayloadSealer }> {
  const aeadOf = aeads ?? await platformAeads();
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  chunkLog2(chunkSize);
  const metadata = encodeMetadata(options.metadata);
  const dataKey = unsafeRandomness?.dataKey ?? randomBytes(DATA_KEY_BYTES);
  const messageId = unsafeRandomness?.messageId ?? randomBytes(MESSAGE_ID_BYTES);
  if (dataKey.length !== DATA_KEY_BYTES || messageId.length !== MESSAGE_ID_BYTES) {
    throw new RangeError('unsafeRandomness: the data key is 32 bytes and the message id 16');
  }
  const messageHeader = encodeMessageHeader({
    suite: recipient.suite, chunkSize, ciferId: recipient.ciferId, messageId, metadata,
    commitment: commitment(dataKey, messageId),
  });
  const { sharedSecret, kemCiphertext } = unsafeRandomness ?? recipient.suite.encapsulate(recipient.publicKey);
  const wrapping = wrappingKey(sharedSecret, recipient.suite, recipient.ciferId, recipient.keyVersion);
  const wrapped = await wrapDataKey(aeadOf['AES-256-GCM'], wrapping, dataKey, messageHeader); // in every suite
  const header = concat([messageHeader, encodeKeySlot(recipient.suite, recipient.keyVersion, kemCiphertext, wrapped)]);
  const payload = aeadOf[recipient.suite.aead];
  const sealer = new PayloadSealer(await payload(payloadKey(dataKey, messageId), messageHeader), chunkSize);
  return { header, sealer };
}

/**
 * Seals `plaintext` to a CIFER's public key, in-process: the same envelope bytes `POST
 * /v1/encrypt` returns, which `client.decrypt` (or any CIFER sidecar) opens.
 */
export async function sealLocally(publicKey: PublicKeyInput | Recipient, plaintext: Uint8Array, options: SealOptions = {}): Promise<Uint8Array> {
  return sealWith(toRecipient(publicKey), plaintext, options);
}

/** `sealLocally` with every random input given: reproduces the project's golden vectors. Never for data. */
export async function unsafeSealWithRandomness(
  publicKey: PublicKeyInput | Recipient, plaintext: Uint8Array, options: SealOptions, randomness: UnsafeRandomness,
): Promise<Uint8Array> {
  return sealWith(toRecipient(publicKey), plaintext, options, randomness);
}

/** The envelope of `plaintext`; `aeads` chooses the AEADs' implementations (the platform's by default; tests run both). */
export async function sealWith(
  recipient: Recipient, plaintext: Uint8Array, options: SealOptions, randomness?: UnsafeRandomness, aeads?: Aeads,
): Promise<Uint8Array> {
  if (!isBytes(plaintext)) throw new TypeError('plaintext must be a Uint8Array (a Buffer is one)');
  const { header, sealer } = await startEnvelope(recipient, options, randomness, aeads);
  const chunks = await sealer.update(plaintext);
  chunks.push(...await sealer.finalize());
  return concat([header, ...chunks]);
}

/**
 * Seals a stream of plaintext pieces (a web ReadableStream, a Node Readable, any (async)
 * iterable of bytes) into a web ReadableStream of envelope bytes, one chunk in memory at a time.
 */
export function sealStreamLocally(
  publicKey: PublicKeyInput | Recipient, source: ByteSource, options: SealOptions = {},
): ReadableStream<Uint8Array> {
  const recipient = toRecipient(publicKey);
  let iterator: AsyncIterator<Uint8Array> | undefined;
  let state: Awaited<ReturnType<typeof startEnvelope>> | undefined;
  let ended = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!state) {
        state = await startEnvelope(recipient, options);
        iterator = pieces(source);
        controller.enqueue(state.header);
        return;
      }
      if (ended) return;
      // A pull must enqueue something (or end the stream): the stream does not pull again on its own.
      for (;;) {
        const next = await (iterator as AsyncIterator<Uint8Array>).next();
        if (next.done) {
          ended = true;
          for (const part of await state.sealer.finalize()) controller.enqueue(part);
          controller.close();
          return;
        }
        if (!isBytes(next.value)) throw new TypeError('a plaintext source yielded something other than bytes');
        const sealed = await state.sealer.update(next.value);
        for (const chunk of sealed) controller.enqueue(chunk);
        if (sealed.length) return;
      }
    },
    async cancel(reason) {
      await iterator?.return?.(reason);
    },
  }, { highWaterMark: 1 });
}

function toRecipient(key: PublicKeyInput | Recipient): Recipient {
  if (!('suite' in key)) return recipientOf(key);
  // A recipient given whole is checked as one made here would be: a known suite, a well-formed id.
  if (!SUITES.includes(key.suite) || !isBytes(key.publicKey)) throw new TypeError('not a recipient of a known suite');
  checkCiferId(key.ciferId);
  return key;
}
