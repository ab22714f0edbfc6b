/**
 * Streamed uploads in Node.js over node:http instead of fetch. Node's fetch (undici) keeps every
 * chunk of a streamed request body in memory until the request ends (nodejs/undici#4058), so a
 * 100 MiB encryptStream would hold 100 MiB; node:http sends with backpressure and lets each
 * chunk go. The module is loaded only in Node, by a computed dynamic import that browser
 * bundlers leave alone: the browser path has no Node-only import and uses fetch.
 */

import type { FetchLike } from './transport.js';

// The parts of node:http, node:https and node:stream used here, typed locally: src/ compiles
// without Node's types, so that nothing else in it can lean on them.
interface IncomingMessage {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
}
interface ClientRequest {
  on(event: 'response', listener: (response: IncomingMessage) => void): ClientRequest;
  on(event: 'error', listener: (error: Error) => void): ClientRequest;
  setTimeout(ms: number, listener: () => void): ClientRequest;
  destroy(error?: Error): void;
  end(data?: Uint8Array): void;
}
interface HttpModule {
  request(url: URL, options: { method: string; headers: Record<string, string>; agent: unknown }): ClientRequest;
  Agent: new (options: { keepAlive: boolean }) => unknown;
}
interface StreamModule {
  Readable: {
    fromWeb(stream: ReadableStream<Uint8Array>, options: { objectMode: boolean; highWaterMark: number }): unknown;
    toWeb(stream: unknown, options: { strategy: { highWaterMark: number } }): ReadableStream<Uint8Array>;
  };
  pipeline(source: unknown, destination: unknown, callback: (error?: Error | null) => void): void;
}

const BUFFER_BYTES = 64 * 1024; // bytes read ahead of the socket: backpressure, not a 16-chunk queue

const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

async function load<T>(name: string): Promise<T> {
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ name)) as T;
}

/** A fetch for streamed bodies on Node (keep-alive agents, one per client); undefined elsewhere. */
export async function nodeStreamingFetch(idleTimeoutMs: number): Promise<FetchLike | undefined> {
  if (!isNode) return undefined;
  const [http, https, stream] = await Promise.all([
    load<HttpModule>('node:http'), load<HttpModule>('node:https'), load<StreamModule>('node:stream'),
  ]);
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  return (input, init) => new Promise<Response>((resolve, reject) => {
    const url = new URL(input);
    const module = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => { headers[name] = value; });
    const request = module.request(url, { method: init.method ?? 'GET', headers, agent: agents[url.protocol as 'http:' | 'https:'] });
    request.setTimeout(idleTimeoutMs, () => request.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
    request.on('error', reject);
    request.on('response', (response) => {
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const status = response.statusCode ?? 0;
      resolve(new Response(status === 204 || status === 304 ? null : stream.Readable.toWeb(response, { strategy: { highWaterMark: 1 } }), { status, headers: responseHeaders }));
    });
    const body = init.body as Uint8Array | ReadableStream<Uint8Array> | null | undefined;
    if (body == null || body instanceof Uint8Array) {
      request.end(body ?? undefined);
    } else {
      // An error of the source destroys the request, which then errors the response (or rejects).
      stream.pipeline(stream.Readable.fromWeb(body, { objectMode: false, highWaterMark: BUFFER_BYTES }), request, () => {});
    }
  });
}
