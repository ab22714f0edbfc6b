/** Reading any source of bytes one piece at a time: a web ReadableStream, a Node Readable or any
 * other async iterable, or a plain iterable. Used by the uploads and by local stream sealing. */

export type ByteSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export function isReadableStream(value: unknown): value is ReadableStream<Uint8Array> {
  return typeof value === 'object' && value !== null && typeof (value as ReadableStream).getReader === 'function';
}

export function pieces(source: ByteSource): AsyncIterator<Uint8Array> {
  if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    return (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  }
  if (isReadableStream(source)) {
    const reader = source.getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      return: async (value?: unknown) => {
        await reader.cancel(value);
        return { done: true, value: undefined };
      },
    };
  }
  const iterator = (source as Iterable<Uint8Array>)[Symbol.iterator]();
  return { next: async () => iterator.next() };
}
