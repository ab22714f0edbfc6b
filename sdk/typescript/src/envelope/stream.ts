/**
 * The payload: STREAM, as age uses it (docs/envelope.md "Payload", cifer/envelope/stream.py).
 * Chunk i is the suite's payload AEAD (AES-256-GCM or ChaCha20-Poly1305) under the payload key
 * with nonce u88(i) || flag (01 for the final chunk) and the message header as associated data,
 * written as ciphertext || tag.
 *
 * `PayloadSealer` is sans-IO: feed plaintext in any pieces, get whole sealed chunks back. The
 * last full chunk is held back until a byte after it arrives, since only then is it known not
 * to be final; so memory is one chunk whatever the input's length.
 */

import { u32 } from '../bytes.js';
import type { Aead } from './aead.js';

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

  /** `aead` is the suite's payload AEAD under the payload key with the message header as associated data. */
  constructor(private readonly aead: Aead, private readonly chunkSize: number) {
    this.pending = new Uint8Array(chunkSize);
  }

  private seal(chunk: Uint8Array, last: boolean): Uint8Array[] | Promise<Uint8Array[]> {
    if (this.counter >= MAX_CHUNKS) throw new RangeError('plaintext too long for one envelope');
    // Either AEAD has read `chunk` before this returns, so the caller may reuse its buffer at once.
    const sealed = this.aead.seal(nonce(this.counter, last), chunk);
    this.counter += 1;
    return sealed;
  }

  /** Sealed chunks for `data` (each chunk in one or more parts): every complete chunk known not to be the last. */
  async update(data: Uint8Array): Promise<Uint8Array[]> {
    if (this.done) throw new Error('internal error: update after finalize');
    const size = this.chunkSize;
    const out: (Uint8Array[] | Promise<Uint8Array[]>)[] = [];
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
    return (await Promise.all(out)).flat();
  }

  /** The final chunk, in parts (its plaintext is empty only if the whole plaintext was). */
  async finalize(): Promise<Uint8Array[]> {
    if (this.done) throw new Error('internal error: finalize twice');
    this.done = true;
    return this.seal(this.pending.subarray(0, this.pendingLength), true);
  }
}
