/**
 * HTTP to the sidecar with the platform's `fetch` (undici in Node, which keeps connections
 * alive and reuses them; the browser's own pool elsewhere): the seed's response body unwrapped,
 * failures turned into typed errors, retries, the circuit breaker and the hooks applied.
 * Mirrors cifer/sdk/transport.py. Every call goes through `call` (JSON in, the answer's `data`
 * out) or `openStream` (a binary body streamed up while the answer streams down).
 */

import type { CircuitBreaker } from './breaker.js';
import type { Endpoint } from './endpoints.js';
import {
  CiferConnectionError, CiferError, CircuitOpenError, RateLimitError, ServiceUnavailableError, errorFromResponse,
  invalidResponse,
} from './errors.js';
import { type RequestHook, SPAN_KIND_CLIENT, SPAN_STATUS_ERROR, type TracerLike, traceparent } from './hooks.js';

export const USER_AGENT = 'cifer-typescript/0.1.0';
export const IDEMPOTENCY_HEADER = 'X-Idempotency-Key';
const IDEMPOTENT_METHODS = new Set(['POST', 'PATCH']); // the methods the server replays under a key
const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/;
export const MAX_ERROR_BODY_BYTES = 64 * 1024; // an error answer is a small JSON object; more is not read
export const MAX_JSON_BODY_BYTES = 256 * 1024 * 1024; // a JSON answer past this is refused, not buffered

/** Seed §8.4's `rateLimitRetry`, for 429, 503 and no answer. Times in milliseconds. */
export interface RetryOptions {
  /** Tries after the first; 0 turns retries off. 3 by default. */
  maxRetries?: number;
  /** Base wait before the first retry, doubled for each further one; 500 by default. */
  initialDelay?: number;
  /** Cap on the exponential wait; 30 000 by default. */
  maxDelay?: number;
  /** A longer Retry-After is not slept through: the error goes to the caller. 60 000 by default. */
  maxRetryAfter?: number;
}

export type FetchLike = (input: string, init: RequestInit & { duplex?: 'half' }) => Promise<Response>;

/** One JSON request and its whole answer, read up to `limit` bytes (body null past it). */
export interface ExchangeRequest {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  timeoutMs: number;
  limit: (status: number) => number;
}
export interface ExchangeAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array | null;
}
export type Exchange = (url: string, request: ExchangeRequest) => Promise<ExchangeAnswer>;

/** How a client's calls travel: JSON exchanges, streamed requests, and closing the pool. */
export interface HttpCarrier {
  exchange: Exchange;
  streamFetch: FetchLike;
  close(): void;
}

/** An Exchange over a fetch: the browser's, or one given in the options. */
export function fetchExchange(fetchImpl: FetchLike): Exchange {
  return async (url, request) => {
    const response = await fetchImpl(url, {
      method: request.method, headers: request.headers, body: request.body, redirect: 'manual',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    return { status: response.status, headers: response.headers, body: await readCapped(response, request.limit(response.status)) };
  };
}

export interface TransportSettings {
  baseUrl: string;
  apiKey: string | (() => string | undefined) | undefined;
  region: string | undefined;
  timeoutMs: number;
  retry: Required<RetryOptions>;
  breaker: CircuitBreaker | undefined;
  onRequest: RequestHook | undefined;
  tracer: TracerLike | undefined;
  /** JSON calls and streamed calls: node:http on Node (see nodehttp.ts), else `fetch`. */
  http: () => Promise<HttpCarrier>;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

export function newIdempotencyKey(): string {
  return 'idem_' + globalThis.crypto.randomUUID().replaceAll('-', '');
}

function checkedIdempotencyKey(key: string): string {
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY_RE.test(key)) {
    throw new TypeError('idempotencyKey must be 1 to 255 printable ASCII characters, without leading or trailing spaces');
  }
  return key;
}

/** The URL without any user:password, for messages. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '<unparseable URL>';
  }
}

const RETRYABLE = [RateLimitError, ServiceUnavailableError, CiferConnectionError] as const;

/** What the breaker counts as the server being down: no answer, or a 5xx. */
function isOutage(error: CiferError): boolean {
  return error instanceof CiferConnectionError || (error.status !== undefined && error.status >= 500);
}

export interface CallOptions {
  pathParams?: Readonly<Record<string, string>>;
  query?: Readonly<Record<string, string | undefined>>;
  json?: unknown;
  headers?: Readonly<Record<string, string>>;
  idempotencyKey?: string | undefined;
}

/** A request body that can be sent again only while nothing was taken from it. */
export interface UploadBody {
  body(): Uint8Array | ReadableStream<Uint8Array>;
  readonly replayable: boolean;
  readonly error: unknown;
}

export async function readCapped(response: Response, limit: number): Promise<Uint8Array | null> {
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function unwrap(body: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw invalidResponse('the body is not JSON');
  }
  const record = parsed as Record<string, unknown> | null;
  if (typeof record !== 'object' || record === null || record['success'] !== true
      || typeof record['data'] !== 'object' || record['data'] === null || Array.isArray(record['data'])) {
    throw invalidResponse('the body is not a success response body');
  }
  return record['data'] as Record<string, unknown>;
}

export class Transport {
  constructor(readonly settings: TransportSettings) {}

  private headers(endpoint: Endpoint, extra: Readonly<Record<string, string>> | undefined, idempotencyKey: string | undefined): Record<string, string> {
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...extra };
    if (IDEMPOTENT_METHODS.has(endpoint.method)) { // one key per call, the same on every retry: the server replays
      headers[IDEMPOTENCY_HEADER] = idempotencyKey === undefined ? newIdempotencyKey() : checkedIdempotencyKey(idempotencyKey);
    } else if (idempotencyKey !== undefined) {
      throw new Error(`internal error: an idempotency key on a ${endpoint.method}`);
    }
    return headers;
  }

  /** The credential of this moment: a rotating token is asked for on every attempt. */
  private authorized(headers: Record<string, string>): Record<string, string> {
    const key = this.settings.apiKey;
    const token = typeof key === 'function' ? key() : key;
    if (token !== undefined && typeof token !== 'string') throw new TypeError('the apiKey function must return a string');
    return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
  }

  /** Milliseconds to wait before retry number `attempt + 1` after `error`; undefined: give up. */
  retryDelayMs(attempt: number, error: CiferError): number | undefined {
    const { maxRetries, initialDelay, maxDelay, maxRetryAfter } = this.settings.retry;
    if (attempt >= maxRetries || !RETRYABLE.some((cls) => error instanceof cls)) return undefined;
    const step = Math.min(maxDelay, initialDelay * 2 ** attempt);
    const backoff = step / 2 + this.settings.random() * (step / 2); // equal jitter: clients do not return in step
    if (error.retryAfter === undefined) return backoff;
    const asked = error.retryAfter * 1000;
    if (asked > maxRetryAfter) return undefined;
    return Math.max(asked, backoff);
  }

  private connectionError(cause: unknown): CiferConnectionError {
    // Only a code, never the cause's message: undici's messages may quote the URL or headers.
    const inner = cause instanceof Error ? ((cause.cause ?? cause) as { code?: unknown }) : undefined;
    const reason = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError') ? 'timed out'
      : typeof inner?.code === 'string' && /^[A-Z_]{1,40}$/.test(inner.code) ? inner.code : 'the connection failed';
    return new CiferConnectionError(`no answer from the CIFER API at ${displayUrl(this.settings.baseUrl)}: ${reason}`, { cause });
  }

  /**
   * One attempt after another until success or a failure no retry heals. `attempt` sends once
   * and returns the result or the typed error; the breaker, the hook and the span see each one.
   */
  private async withRetries<T>(
    endpoint: Endpoint, replayable: () => boolean,
    attemptOnce: (headers: Record<string, string>) => Promise<{ value: T; status: number } | { error: CiferError }>,
    baseHeaders: Record<string, string>,
  ): Promise<T> {
    const span = this.settings.tracer?.startSpan(`CIFER ${endpoint.name}`, {
      kind: SPAN_KIND_CLIENT,
      attributes: {
        'http.request.method': endpoint.method, 'url.template': endpoint.path, 'cifer.operation': endpoint.name,
        ...(this.settings.region ? { 'cifer.region': this.settings.region } : {}),
      },
    });
    try {
      for (let attempt = 0; ; attempt++) {
        const started = performance.now();
        let outcome: { value: T; status: number } | { error: CiferError };
        try {
          this.settings.breaker?.before();
          const parent = span ? traceparent(span) : undefined;
          outcome = await attemptOnce(this.authorized(parent ? { ...baseHeaders, traceparent: parent } : baseHeaders));
        } catch (error) {
          if (error instanceof CircuitOpenError) this.report(endpoint, attempt, undefined, error, started, false);
          else if (error instanceof CiferError) this.settings.breaker?.success(); // an answer, if a malformed one
          else this.settings.breaker?.release();
          throw error;
        }
        if ('value' in outcome) {
          this.settings.breaker?.success();
          this.report(endpoint, attempt, outcome.status, undefined, started, false);
          span?.setAttribute('cifer.attempts', attempt + 1);
          return outcome.value;
        }
        const { error } = outcome;
        if (isOutage(error)) this.settings.breaker?.failure();
        else this.settings.breaker?.success();
        const delay = replayable() ? this.retryDelayMs(attempt, error) : undefined;
        this.report(endpoint, attempt, error.status, error, started, delay !== undefined);
        if (delay === undefined) throw error;
        await this.settings.sleep(delay);
      }
    } catch (error) {
      if (span && error instanceof Error) {
        span.recordException?.(error);
        span.setStatus({ code: SPAN_STATUS_ERROR, message: error instanceof CiferError ? error.code : error.name });
        if (error instanceof CiferError && error.status !== undefined) span.setAttribute('http.response.status_code', error.status);
      }
      throw error;
    } finally {
      span?.end();
    }
  }

  private report(endpoint: Endpoint, attempt: number, status: number | undefined, error: CiferError | undefined,
                 started: number, willRetry: boolean): void {
    const hook = this.settings.onRequest;
    if (!hook) return;
    try {
      hook({
        operation: endpoint.name, method: endpoint.method, path: endpoint.path, attempt, status,
        errorCode: error?.code, durationMs: performance.now() - started, requestId: error?.requestId, willRetry,
      });
    } catch {
      // A metrics hook that throws must not fail the call it observes.
    }
  }

  private url(endpoint: Endpoint, path: string, query?: Readonly<Record<string, string | undefined>>): string {
    const url = this.settings.baseUrl + path;
    const params = Object.entries(query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined);
    return params.length ? `${url}?${new URLSearchParams(params).toString()}` : url;
  }

  /**
   * One call with no credential (the sidecar acts as the pod), made once: for a call after which
   * the sidecar may be gone (`/v1/shutdown`), where a retry could only fail.
   */
  async asThePod(endpoint: Endpoint): Promise<Record<string, unknown>> {
    const { exchange } = await this.settings.http();
    let answer: ExchangeAnswer;
    try {
      answer = await exchange(this.url(endpoint, endpoint.path), {
        method: endpoint.method, headers: { Accept: 'application/json' }, body: undefined,
        timeoutMs: this.settings.timeoutMs, limit: () => MAX_ERROR_BODY_BYTES,
      });
    } catch (cause) {
      throw this.connectionError(cause);
    }
    if (answer.status >= 200 && answer.status < 300) return unwrap(answer.body ?? new Uint8Array(0));
    throw errorFromResponse(answer.status, answer.body ?? new Uint8Array(0), answer.headers);
  }

  /** One JSON call; returns the answer's `data` or throws the typed error. */
  async call(endpoint: Endpoint, path: string, options: CallOptions = {}): Promise<Record<string, unknown>> {
    const headers = this.headers(endpoint, options.headers, options.idempotencyKey);
    headers['Accept'] = 'application/json';
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['Content-Type'] = 'application/json';
    }
    const url = this.url(endpoint, path, options.query);
    const { exchange } = await this.settings.http();
    const limit = (status: number) => (status >= 200 && status < 300 ? MAX_JSON_BODY_BYTES : MAX_ERROR_BODY_BYTES);
    return this.withRetries<Record<string, unknown>>(endpoint, () => true, async (attemptHeaders) => {
      let answer: ExchangeAnswer;
      try {
        answer = await exchange(url, { method: endpoint.method, headers: attemptHeaders, body, timeoutMs: this.settings.timeoutMs, limit });
      } catch (cause) {
        return { error: this.connectionError(cause) };
      }
      if (answer.status >= 200 && answer.status < 300) {
        if (answer.body === null) throw invalidResponse(`the answer is over ${MAX_JSON_BODY_BYTES} bytes`);
        return { value: unwrap(answer.body), status: answer.status };
      }
      return { error: errorFromResponse(answer.status, answer.body ?? new Uint8Array(0), answer.headers) };
    }, headers);
  }

  /**
   * POST a binary body and return the answer once its headers are in; the body goes on
   * uploading while the caller reads. Retried only while nothing was taken from the body.
   */
  async openStream(endpoint: Endpoint, extra: Record<string, string>, upload: UploadBody): Promise<Response> {
    const headers = this.headers(endpoint, extra, undefined);
    headers['Content-Type'] = 'application/octet-stream';
    const url = this.url(endpoint, endpoint.path);
    const { streamFetch } = await this.settings.http();
    return this.withRetries<Response>(endpoint, () => upload.replayable, async (attemptHeaders) => {
      let response: Response;
      try {
        response = await streamFetch(url, {
          method: 'POST', headers: attemptHeaders, body: upload.body() as BodyInit, redirect: 'manual', duplex: 'half',
        });
      } catch (cause) {
        if (upload.error !== undefined) throw upload.error;
        return { error: this.connectionError(cause) };
      }
      if (response.status >= 200 && response.status < 300) return { value: response, status: response.status };
      let raw: Uint8Array | null = null;
      try {
        raw = await readCapped(response, MAX_ERROR_BODY_BYTES);
      } catch {
        raw = null;
      }
      return { error: errorFromResponse(response.status, raw ?? new Uint8Array(0), response.headers) };
    }, headers);
  }
}
