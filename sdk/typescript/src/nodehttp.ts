/**
 * HTTP on Node.js over node:http and node:https with keep-alive agents (one pair per client:
 * the connection pool), instead of the global fetch:
 * - streamed uploads: Node's fetch (undici) keeps every chunk of a streamed request body in
 *   memory until the request ends (nodejs/undici#4058), so a 100 MiB encryptStream would hold
 *   100 MiB; node:http sends with backpressure and lets each chunk go;
 * - JSON calls: about twice the requests per second of fetch, which spends its time in web
 *   streams (bench/index.mjs measures encrypt_rps).
 * The modules are loaded only on Node, by a computed dynamic import that browser bundlers leave
 * alone: the browser path has no Node-only import and uses fetch.
 */

import { isBytes } from './bytes.js';
import type { Exchange, FetchLike, HttpCarrier } from './transport.js';

// The parts of node:http, node:https and node:stream used here, typed locally: src/ compiles
// without Node's types, so that nothing else in it can lean on them.
interface IncomingMessage {
  statusCode?: number;
  headers: Record<string, string | string[] | undefined>;
  on(event: 'data', listener: (chunk: Uint8Array) => void): IncomingMessage;
  on(event: 'end' | 'aborted', listener: () => void): IncomingMessage;
  on(event: 'error', listener: (error: Error) => void): IncomingMessage;
  destroy(): void;
}
interface ClientRequest {
  on(event: 'response', listener: (response: IncomingMessage) => void): ClientRequest;
  on(event: 'error', listener: (error: Error) => void): ClientRequest;
  setTimeout(ms: number, listener: () => void): ClientRequest;
  destroy(error?: Error): void;
  end(data?: Uint8Array | string): void;
}
interface HttpModule {
  request(url: URL, options: { method: string; headers: Record<string, string>; agent: unknown }): ClientRequest;
  Agent: new (options: { keepAlive: boolean }) => { destroy(): void };
}
interface StreamModule {
  Readable: {
    fromWeb(stream: ReadableStream<Uint8Array>, options: { objectMode: boolean; highWaterMark: number }): unknown;
    toWeb(stream: unknown, options: { strategy: { highWaterMark: number } }): ReadableStream<Uint8Array>;
  };
  pipeline(source: unknown, destination: unknown, callback: (error?: Error | null) => void): void;
}

const BUFFER_BYTES = 64 * 1024; // bytes read ahead of the socket: backpressure, not a 16-chunk queue

export const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** A Node built-in by a computed dynamic import, which browser bundlers leave alone. Node only. */
export async function load<T>(name: string): Promise<T> {
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ name)) as T;
}

function headersOf(response: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

/** JSON calls and streamed calls over node:http on Node (keep-alive agents, one pair per client); undefined elsewhere. */
export async function nodeHttp(idleTimeoutMs: number): Promise<HttpCarrier | undefined> {
  if (!isNode) return undefined;
  const [http, https, stream] = await Promise.all([
    load<HttpModule>('node:http'), load<HttpModule>('node:https'), load<StreamModule>('node:stream'),
  ]);
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  const open = (input: string, method: string, headers: Record<string, string>): ClientRequest => {
    const url = new URL(input);
    return (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent: agents[url.protocol as 'http:' | 'https:'] });
  };

  const exchange: Exchange = (url, request) => new Promise((resolve, reject) => {
    const call = open(url, request.method, request.body === undefined ? request.headers
      : { ...request.headers, 'Content-Length': String(new TextEncoder().encode(request.body).length) });
    const timer = setTimeout(() => call.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), request.timeoutMs);
    call.on('error', (error) => { clearTimeout(timer); reject(error); });
    call.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const limit = request.limit(status);
      const parts: Uint8Array[] = [];
      let size = 0;
      let over = false;
      response.on('data', (chunk) => {
        size += chunk.length;
        if (size > limit) {
          over = true;
          response.destroy();
        } else {
          parts.push(chunk);
        }
      });
      response.on('error', (error) => { clearTimeout(timer); if (over) resolve({ status, headers: headersOf(response), body: null }); else reject(error); });
      response.on('aborted', () => { clearTimeout(timer); if (!over) reject(new Error('the answer was cut off')); });
      response.on('end', () => {
        clearTimeout(timer);
        const body = new Uint8Array(size);
        let offset = 0;
        for (const part of parts) { body.set(part, offset); offset += part.length; }
        resolve({ status, headers: headersOf(response), body: over ? null : body });
      });
    });
    call.end(request.body);
  });

  const streamFetch: FetchLike = (input, init) => new Promise<Response>((resolve, reject) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => { headers[name] = value; });
    const request = open(input, init.method ?? 'GET', headers);
    request.setTimeout(idleTimeoutMs, () => request.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
    request.on('error', reject);
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const body = status === 204 || status === 304 ? null : stream.Readable.toWeb(response, { strategy: { highWaterMark: 1 } });
      resolve(new Response(body, { status, headers: headersOf(response) }));
    });
    const body = init.body as Uint8Array | ReadableStream<Uint8Array> | null | undefined;
    if (body == null || isBytes(body)) {
      request.end(body ?? undefined);
    } else {
      // An error of the source destroys the request, which then errors the response (or rejects).
      stream.pipeline(stream.Readable.fromWeb(body, { objectMode: false, highWaterMark: BUFFER_BYTES }), request, () => {});
    }
  });
  return { exchange, streamFetch, close: () => { agents['http:'].destroy(); agents['https:'].destroy(); } };
}
