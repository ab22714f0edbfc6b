/**
 * `CiferClient`: the CIFER API through the sidecar (or `cifer dev`), seed §6.3 as written.
 * cifer/sdk/async_client.py is the Python twin; option names match where the languages allow.
 */

import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './breaker.js';
import { toBase64, fromBase64, isBytes } from './bytes.js';
import * as E from './endpoints.js';
import { InvalidCiphertextError } from './errors.js';
import type { RequestHook, TracerLike } from './hooks.js';
import { type DecryptResult, type EncryptResult, type PublicKey, decryptResult, encryptResult } from './models.js';
import { Cifers, Keys, Webhooks } from './resources.js';
import { Security } from './security.js';
import { type PublicKeyInput, type SealOptions, recipientOf, sealLocally, sealStreamLocally } from './envelope/seal.js';
import type { Metadata } from './envelope/format.js';
import { type BodySource, CiferStream, Upload } from './streams.js';
import type { ByteSource } from './iterate.js';
import { nodeHttp } from './nodehttp.js';
import { type FetchLike, type HttpCarrier, type RetryOptions, Transport, displayUrl, fetchExchange } from './transport.js';

export const DEFAULT_BASE_URL = 'http://localhost:8080';
export const BASE_URL_ENV = 'CIFER_PROXY_URL';
export const API_KEY_ENV = 'CIFER_API_KEY';

export interface CiferClientOptions {
  /** Sent as `Authorization: Bearer <key>`; else $CIFER_API_KEY; else none (the sidecar acts for its pod).
   *  A function is asked before every request (a token that rotates). */
  apiKey?: string | (() => string | undefined);
  /**
   * The CIFER region (`us-east`, ...), as in seed §6.3. Calls go to the sidecar, which knows its
   * key service, so the region does not change the URL; it is reported on spans (`cifer.region`)
   * and kept as `client.region`.
   */
  region?: string;
  /** The API's origin (and any path prefix), without `/v1`; else $CIFER_PROXY_URL; else http://localhost:8080. */
  baseUrl?: string;
  /** Retries of 429, 503 and no answer; shorthand for `rateLimitRetry.maxRetries`. 3 by default. */
  maxRetries?: number;
  /** Seed §8.4: `{ maxRetries, initialDelay, maxDelay }` in milliseconds, plus `maxRetryAfter`. */
  rateLimitRetry?: RetryOptions;
  /** Whole-call limit for JSON calls, in milliseconds; 60 000 by default. Streams have none. */
  timeoutMs?: number;
  /** A stream fails when no byte moves for this long, in milliseconds; 300 000 by default (Node only). */
  streamIdleTimeoutMs?: number;
  /** The circuit breaker (seed §6.6); `false` turns it off. Defaults: 5 failures, 30 000 ms open. */
  circuitBreaker?: CircuitBreakerOptions | false;
  /** Called after every HTTP attempt with its outcome and duration: the metrics hook. */
  onRequest?: RequestHook;
  /** An OpenTelemetry Tracer (`trace.getTracer('@cifer-io/sdk')`): one client span per call, its traceparent sent. */
  tracer?: TracerLike;
  /** The fetch to use for every call. By default: node:http with keep-alive agents on Node (a
   *  connection pool per client), the platform's fetch (its own pool) elsewhere. */
  fetch?: FetchLike;
  /** Public keys for `sealLocally(ciferId, ...)` are kept this long, in milliseconds; 60 000 by default. */
  publicKeyCacheMs?: number;
}

export interface EncryptOptions {
  /** Authenticated, non-secret strings sealed into the envelope's header. */
  metadata?: Metadata;
  idempotencyKey?: string;
}

/** What callers hold of an envelope: its bytes, their base64 text, or an EncryptResult. */
export type Ciphertext = Uint8Array | string | EncryptResult;

function environment(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.[name] || undefined;
}

function resolveBaseUrl(given: string | undefined): string {
  let url = (given ?? environment(BASE_URL_ENV) ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  if (url.endsWith('/v1')) url = url.slice(0, -3); // seed §1.3 writes base URLs with the version; the SDK adds it
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`baseUrl must be an absolute http(s) URL, got ${JSON.stringify(displayUrl(url))}`);
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
    throw new TypeError(`baseUrl must be an absolute http(s) URL, got ${JSON.stringify(displayUrl(url))}`);
  }
  if (parsed.username || parsed.password) throw new TypeError('baseUrl must not carry credentials: give the key as apiKey');
  return url;
}

function envelopeBytes(ciphertext: Ciphertext): Uint8Array {
  if (typeof ciphertext === 'string') {
    const bytes = fromBase64(ciphertext);
    if (!bytes) throw new InvalidCiphertextError('the ciphertext text is not valid base64');
    return bytes;
  }
  if (isBytes(ciphertext)) return ciphertext;
  if (ciphertext && isBytes(ciphertext.ciphertext)) return ciphertext.ciphertext;
  throw new TypeError('ciphertext must be a Uint8Array, its base64 text, or an EncryptResult');
}

function headerValue(ciferId: string): string {
  if (typeof ciferId !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(ciferId)) throw new TypeError('ciferId must be a non-empty printable string');
  return ciferId;
}

export class CiferClient {
  readonly cifers: Cifers;
  readonly keys: Keys;
  readonly webhooks: Webhooks;
  /** Seed 001's data-protection API (`/api/security/*`). */
  readonly security: Security;
  readonly region: string | undefined;
  readonly baseUrl: string;
  private readonly transport: Transport;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly publicKeyCacheMs: number;
  private readonly publicKeys = new Map<string, { key: Promise<PublicKey>; at: number }>();
  private readonly closeCarrier: () => Promise<void>;
  private closed = false;

  constructor(options: CiferClientOptions = {}) {
    this.baseUrl = resolveBaseUrl(options.baseUrl);
    this.region = options.region;
    const retry = options.rateLimitRetry ?? {};
    const resolvedRetry = {
      maxRetries: retry.maxRetries ?? options.maxRetries ?? 3, initialDelay: retry.initialDelay ?? 500,
      maxDelay: retry.maxDelay ?? 30_000, maxRetryAfter: retry.maxRetryAfter ?? 60_000,
    };
    if (Object.values(resolvedRetry).some((v) => !(v >= 0))) throw new RangeError('retry settings must not be negative');
    this.breaker = options.circuitBreaker === false ? undefined : new CircuitBreaker(options.circuitBreaker ?? {});
    const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const viaFetch: HttpCarrier = { exchange: fetchExchange(fetchImpl), streamFetch: fetchImpl, close: () => {} };
    let http: Promise<HttpCarrier> | undefined;
    this.transport = new Transport({
      baseUrl: this.baseUrl, apiKey: options.apiKey ?? environment(API_KEY_ENV), region: options.region,
      timeoutMs: options.timeoutMs ?? 60_000, retry: resolvedRetry, breaker: this.breaker,
      onRequest: options.onRequest, tracer: options.tracer,
      http: () => {
        if (this.closed) throw new Error('this CIFER client is closed');
        return (http ??= options.fetch ? Promise.resolve(viaFetch)
          : nodeHttp(options.streamIdleTimeoutMs ?? 300_000).then((found) => found ?? viaFetch));
      },
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), random: Math.random,
    });
    this.closeCarrier = async () => (await http)?.close();
    this.publicKeyCacheMs = options.publicKeyCacheMs ?? 60_000;
    this.cifers = new Cifers(this.transport);
    this.keys = new Keys(this.transport);
    this.webhooks = new Webhooks(this.transport);
    this.security = new Security(this.transport);
  }

  /**
   * Close the client's connections (Node: its keep-alive pool). Optional: idle connections never
   * keep a process alive. Calls after this throw.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.closeCarrier();
  }

  /** closed, open or half-open; always `closed` when the breaker is off. */
  get circuitState(): CircuitState {
    return this.breaker?.state ?? 'closed';
  }

  /** Seal `plaintext` to the CIFER's public key through the sidecar (seed §4.3): for small data. */
  async encrypt(ciferId: string, plaintext: Uint8Array, options: EncryptOptions = {}): Promise<EncryptResult> {
    if (!isBytes(plaintext)) throw new TypeError('plaintext must be a Uint8Array (a Buffer is one)');
    const body: Record<string, unknown> = { cifer_id: ciferId, plaintext: toBase64(plaintext), encoding: 'base64' };
    if (options.metadata !== undefined) body['metadata'] = { ...options.metadata };
    return encryptResult(await this.transport.call(E.ENCRYPT, E.pathOf(E.ENCRYPT), {
      json: body, idempotencyKey: options.idempotencyKey,
    }));
  }

  /**
   * Stop this pod's sidecar (`POST /v1/shutdown`), as a Job's application does once it is done, so
   * that the pod completes (docs/injection.md). Sent as the pod, without this client's credential,
   * and once: the sidecar is gone after. Anywhere but from the pod's own containers it is a 403,
   * thrown as its typed error.
   */
  async shutdownSidecar(): Promise<void> {
    await this.transport.asThePod(E.SHUTDOWN);
  }

  /** Open an envelope (seed §4.4): its bytes, their base64 text, or an EncryptResult. */
  async decrypt(ciphertext: Ciphertext): Promise<DecryptResult> {
    const body = { ciphertext: toBase64(envelopeBytes(ciphertext)), encoding: 'base64' };
    return decryptResult(await this.transport.call(E.DECRYPT, E.pathOf(E.DECRYPT), { json: body }));
  }

  /**
   * Stream `source` up and its envelope down (the binary form of `/v1/encrypt`), in bounded
   * memory. Read `.body` (a web ReadableStream) or iterate the result with `for await`.
   */
  async encryptStream(ciferId: string, source: BodySource, options: { metadata?: Metadata } = {}): Promise<CiferStream> {
    const upload = new Upload(source);
    const headers: Record<string, string> = { 'X-Cifer-Id': headerValue(ciferId) };
    if (options.metadata && Object.keys(options.metadata).length) {
      headers['X-Cifer-Metadata'] = JSON.stringify(options.metadata).replace(/[\u007f-\uffff]/g,
        (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')); // a header is ASCII: \\u escapes
    }
    return new CiferStream(await this.transport.openStream(E.ENCRYPT, headers, upload), upload);
  }

  /**
   * Stream an envelope up and its plaintext down. A ciphertext that fails authentication
   * part-way errors the body with `StreamError`: discard what came before.
   */
  async decryptStream(source: BodySource): Promise<CiferStream> {
    const upload = new Upload(source);
    return new CiferStream(await this.transport.openStream(E.DECRYPT, {}, upload), upload);
  }

  /**
   * Seal in-process to the CIFER's current public key (fetched from `/v1/keys/{id}` and kept
   * `publicKeyCacheMs`): the same envelope `encrypt` returns, without sending the plaintext.
   */
  async sealLocally(cifer: string | PublicKeyInput, plaintext: Uint8Array, options: SealOptions = {}): Promise<Uint8Array> {
    return sealLocally(typeof cifer === 'string' ? await this.publicKey(cifer) : cifer, plaintext, options);
  }

  /** `sealLocally` for a stream of plaintext: a web ReadableStream of envelope bytes. */
  async sealStreamLocally(cifer: string | PublicKeyInput, source: ByteSource,
                          options: SealOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const key = typeof cifer === 'string' ? await this.publicKey(cifer) : cifer;
    return sealStreamLocally(recipientOf(key), source, options);
  }

  private async publicKey(ciferId: string): Promise<PublicKey> {
    const now = Date.now();
    const cached = this.publicKeys.get(ciferId);
    if (cached && now - cached.at < this.publicKeyCacheMs) return cached.key;
    const key = this.keys.get(ciferId);
    this.publicKeys.set(ciferId, { key, at: now });
    key.catch(() => this.publicKeys.delete(ciferId));
    return key;
  }
}
