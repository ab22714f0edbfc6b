/**
 * The payload: STREAM, as age uses it (docs/envelope.md "Payload", cifer/envelope/stream.py).
 * Chunk i is AES-256-GCM under the payload key with nonce u88(i) || flag (01 for the final
 * chunk) and the message header as associated data, written as ciphertext || tag.
 *
 * `PayloadSealer` is sans-IO: feed plaintext in any pieces, get whole sealed chunks back. The
 * last full chunk is held back until a byte after it arrives, since only then is it known not
 * to be final; so memory is one chunk whatever the input's length.
 */

import { u32 } from '../bytes.js';

export const TAG_BYTES = 16;
export const MAX_CHUNKS = 2 ** 32;

function nonce(counter: number, last: boolean): Uint8Array {
  const out = new Uint8Array(12);
  out.set(u32(counter), 7); // u88 big-endian: the counter never exceeds 2**32 - 1
  out[11] = last ? 1 : 0;
  return out;
}

export class PayloadSealer {
  private readonly pending: Uint8Array;
  private pendingLength = 0;
  private counter = 0;
  private done = false;

  constructor(private readonly key: CryptoKey, private readonly chunkSize: number, private readonly aad: Uint8Array) {
    this.pending = new Uint8Array(chunkSize);
  }

  private seal(chunk: Uint8Array, last: boolean): Promise<Uint8Array> {
    if (this.counter >= MAX_CHUNKS) throw new RangeError('plaintext too long for one envelope');
    // WebCrypto copies `chunk` before this returns, so the caller may reuse its buffer at once.
    const sealed = globalThis.crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: nonce(this.counter, last) as BufferSource, additionalData: this.aad as BufferSource, tagLength: 128 },
      this.key, chunk as BufferSource,
    );
    this.counter += 1;
    return sealed.then((buffer) => new Uint8Array(buffer));
  }

  /** Sealed chunks for `data`: every complete chunk known not to be the last. */
  update(data: Uint8Array): Promise<Uint8Array[]> {
    if (this.done) throw new Error('internal error: update after finalize');
    const size = this.chunkSize;
    const out: Promise<Uint8Array>[] = [];
    let offset = 0;
    while (offset < data.length) {
      if (this.pendingLength === size) {
        out.push(this.seal(this.pending, false));
        this.pendingLength = 0;
      }
      if (this.pendingLength === 0 && data.length - offset > size) {
        out.push(this.seal(data.subarray(offset, offset + size), false)); // whole chunks straight from the input
        offset += size;
        continue;
      }
      const take = Math.min(size - this.pendingLength, data.length - offset);
      this.pending.set(data.subarray(offset, offset + take), this.pendingLength);
      this.pendingLength += take;
      offset += take;
    }
    return Promise.all(out);
  }

  /** The final chunk (empty only if the whole plaintext was). */
  finalize(): Promise<Uint8Array> {
    if (this.done) throw new Error('internal error: finalize twice');
    this.done = true;
    return this.seal(this.pending.subarray(0, this.pendingLength), true);
  }
}
