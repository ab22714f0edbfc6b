/**
 * The binary API, streamed both ways (cifer/sdk/streams.py and upload.py are the Python
 * twins): a body read piece by piece while it is sent, and an answer read as it arrives.
 * Sources are a Uint8Array, a web ReadableStream, or any (async) iterable of bytes, which a
 * Node Readable is; the answer is a web ReadableStream (`Readable.fromWeb` makes it a Node one).
 *
 * The server reports a failure found mid-stream (a ciphertext chunk whose tag fails) by
 * aborting the connection before the end. So an answer that ends any other way than properly
 * errors with `StreamError`: reading never ends quietly on a cut-off stream, and whatever was
 * read before must be thrown away.
 */

import { isBytes } from './bytes.js';
import { type ByteSource, isReadableStream, pieces } from './iterate.js';
import { CiferError, StreamError, invalidResponse } from './errors.js';
import { isNode } from './nodehttp.js';
import type { UploadBody } from './transport.js';

export type BodySource = Uint8Array | ByteSource;

export class Upload implements UploadBody {
  private started = false;
  error: unknown = undefined;

  constructor(private readonly source: BodySource) {
    if (typeof source === 'string') throw new TypeError('a body must be bytes or a stream of bytes, not a string');
    const ok = isBytes(source) || isReadableStream(source)
      || typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function'
      || typeof (source as Iterable<Uint8Array>)[Symbol.iterator] === 'function';
    if (!ok) throw new TypeError('cannot send this value as a body');
  }

  get replayable(): boolean {
    return isBytes(this.source) || !this.started;
  }

  body(): Uint8Array | ReadableStream<Uint8Array> {
    if (isBytes(this.source)) return this.source;
    const iterator = pieces(this.source);
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          for (;;) {
            const next = await iterator.next();
            if (next.done) {
              controller.close();
              return;
            }
            if (!isBytes(next.value)) throw new TypeError('a body source yielded something other than bytes');
            if (next.value.length) {
              this.started = true;
              controller.enqueue(next.value);
              return;
            }
          }
        } catch (error) {
          this.error = error;
          controller.error(error);
        }
      },
      cancel: async (reason) => {
        await iterator.return?.(reason);
      },
    }, { highWaterMark: 0 });
  }
}

/** A streamed answer of `/v1/encrypt` or `/v1/decrypt`: `body` to read, and which key sealed or opened it. */
export class CiferStream implements AsyncIterable<Uint8Array> {
  /** The answer's bytes; errors with StreamError if it is cut off. Read it once. */
  readonly body: ReadableStream<Uint8Array>;
  readonly ciferId: string | undefined;
  readonly keyVersion: number | undefined;
  /** The suite that sealed it (encrypt only). */
  readonly algorithm: string | undefined;
  /** The envelope's metadata (decrypt only). */
  readonly metadata: Record<string, unknown>;

  constructor(response: Response, upload: Upload) {
    const headers = response.headers;
    const chunked = (headers.get('Transfer-Encoding') ?? '').toLowerCase().includes('chunked');
    // Only node:http shows the framing headers; a browser's or an edge runtime's fetch hides
    // them and reports a cut-off as an error itself.
    if (isNode && !chunked && !headers.has('Content-Length')) {
      void response.body?.cancel();
      throw new StreamError('the server\'s answer is neither chunked nor sized, so a cut-off could not be told');
    }
    this.ciferId = headers.get('X-Cifer-Id') ?? undefined;
    const version = headers.get('X-Cifer-Key-Version');
    if (version !== null && !/^\d+$/.test(version)) throw invalidResponse('X-Cifer-Key-Version is not a number');
    this.keyVersion = version === null ? undefined : Number(version);
    this.algorithm = headers.get('X-Cifer-Algorithm') ?? undefined;
    const metadata = headers.get('X-Cifer-Metadata');
    this.metadata = {};
    if (metadata !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(metadata);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidResponse('X-Cifer-Metadata is not a JSON object');
      this.metadata = parsed as Record<string, unknown>;
    }
    const reader = (response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() })).getReader();
    this.body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (cause) {
          if (upload.error !== undefined) controller.error(upload.error); // our source failed first
          else {
            controller.error(cause instanceof CiferError ? cause : new StreamError(
              'the stream was cut off before its end (a chunk failed authentication, or the connection broke); discard the output',
              { cause },
            ));
          }
        }
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const reader = this.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }

  /** The whole answer in memory: for small messages only. */
  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const part of this) {
      parts.push(part);
      size += part.length;
    }
    const out = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}
