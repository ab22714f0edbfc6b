/**
 * The SDK's errors (seed 000 §9.3): one class per §9.1 code, chosen by the body's `error.code`.
 * Catch the class for the case you handle (`RateLimitError`, `NotFoundError`) and `CiferError`
 * for the rest. Mirrors cifer/sdk/errors.py; messages never carry keys, tokens or plaintext.
 */

export const CONNECTION_ERROR = 'CONNECTION_ERROR'; // no HTTP answer at all: refused, reset, timed out
export const STREAM_ABORTED = 'STREAM_ABORTED'; // a streamed answer cut off before its end
export const INVALID_RESPONSE = 'INVALID_RESPONSE'; // an answer that is not the seed's response body
export const CIRCUIT_OPEN = 'CIRCUIT_OPEN'; // the circuit breaker refused the call without sending it
export const INVALID_KEY = 'INVALID_KEY'; // a public key that is not the suite's (local sealing)

export interface CiferErrorOptions {
  code?: string;
  status?: number;
  details?: Record<string, unknown>;
  requestId?: string;
  retryAfter?: number;
  cause?: unknown;
}

/** Any failure of a CIFER call. `code` is the seed's error code or one of the SDK's own. */
export class CiferError extends Error {
  static readonly defaultCode: string = 'UNKNOWN';
  readonly code: string;
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined;
  /** The error body's `details` (seed §9.2). */
  readonly details: Record<string, unknown>;
  /** The answer's `meta.request_id` (else its X-Request-ID): quote it to support. */
  readonly requestId: string | undefined;
  /** Seconds the server asked us to wait (Retry-After, else `details.retry_after`). */
  readonly retryAfter: number | undefined;

  constructor(message: string, options: CiferErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? (new.target as typeof CiferError).defaultCode;
    this.status = options.status;
    this.details = options.details ?? {};
    this.requestId = options.requestId;
    this.retryAfter = options.retryAfter;
  }
}

export class InvalidRequestError extends CiferError { static override readonly defaultCode: string = 'INVALID_REQUEST'; }
export class InvalidCiferIdError extends CiferError { static override readonly defaultCode: string = 'INVALID_CIFER_ID'; }
export class InvalidCiphertextError extends CiferError { static override readonly defaultCode: string = 'INVALID_CIPHERTEXT'; }
/** 401: the API key is missing, malformed or unknown. */
export class AuthenticationError extends CiferError { static override readonly defaultCode: string = 'UNAUTHORIZED'; }
export class PermissionDeniedError extends CiferError { static override readonly defaultCode: string = 'FORBIDDEN'; }

/** The caller may not open this ciphertext; `ciferId` names the CIFER it was sealed to. */
export class UnauthorizedDecryptError extends PermissionDeniedError {
  static override readonly defaultCode: string = 'UNAUTHORIZED_DECRYPT';
  get ciferId(): string | undefined {
    const value = this.details['cifer_id'];
    return typeof value === 'string' ? value : undefined;
  }
}

export class NotFoundError extends CiferError { static override readonly defaultCode: string = 'NOT_FOUND'; }
export class CiferRevokedError extends CiferError { static override readonly defaultCode: string = 'CIFER_REVOKED'; }
/** 429. `retryAfter` is the server's Retry-After in seconds (0 if it did not say), as seed §8.4 uses it. */
export class RateLimitError extends CiferError {
  static override readonly defaultCode: string = 'RATE_LIMIT_EXCEEDED';
  override readonly retryAfter: number;

  constructor(message: string, options: CiferErrorOptions = {}) {
    super(message, options);
    this.retryAfter = options.retryAfter ?? 0;
  }
}
export class InternalError extends CiferError { static override readonly defaultCode: string = 'INTERNAL_ERROR'; }
export class ServiceUnavailableError extends CiferError { static override readonly defaultCode: string = 'SERVICE_UNAVAILABLE'; }
/** No answer: the sidecar is not listening, the connection broke, or it timed out. */
export class CiferConnectionError extends CiferError { static override readonly defaultCode: string = CONNECTION_ERROR; }
/** A streamed answer ended without its end: discard what was read (seed's STREAM rule). */
export class StreamError extends CiferError { static override readonly defaultCode: string = STREAM_ABORTED; }
/** The circuit breaker is open after repeated failures; nothing was sent. `retryAfter`: when it half-opens. */
export class CircuitOpenError extends CiferError { static override readonly defaultCode: string = CIRCUIT_OPEN; }
/** A public key that is not a valid key of its suite (local sealing). */
export class InvalidKeyError extends CiferError { static override readonly defaultCode: string = INVALID_KEY; }

const CLASSES = [
  InvalidRequestError, InvalidCiferIdError, InvalidCiphertextError, AuthenticationError, PermissionDeniedError,
  UnauthorizedDecryptError, NotFoundError, CiferRevokedError, RateLimitError, InternalError, ServiceUnavailableError,
] as const;

/** The class for each of the seed's §9.1 codes; any other code is a plain `CiferError`. */
export const ERROR_CLASSES: ReadonlyMap<string, typeof CiferError> = new Map(CLASSES.map((c) => [c.defaultCode, c]));

/** The seed's code and message by HTTP status, for answers whose body is not the seed's error. */
const BY_STATUS: ReadonlyMap<number, [string, string]> = new Map([
  [400, ['INVALID_REQUEST', 'Malformed request']],
  [401, ['UNAUTHORIZED', 'Invalid or missing credentials']],
  [403, ['FORBIDDEN', 'Insufficient permissions']],
  [404, ['NOT_FOUND', 'Resource not found']],
  [405, ['METHOD_NOT_ALLOWED', 'Method not allowed']],
  [410, ['CIFER_REVOKED', 'CIFER has been revoked']],
  [413, ['PAYLOAD_TOO_LARGE', 'Request body too large']],
  [415, ['UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type']],
  [429, ['RATE_LIMIT_EXCEEDED', 'Rate limit exceeded']],
  [500, ['INTERNAL_ERROR', 'Internal server error']],
  [502, ['SERVICE_UNAVAILABLE', 'Service temporarily unavailable']],
  [503, ['SERVICE_UNAVAILABLE', 'Service temporarily unavailable']],
  [504, ['SERVICE_UNAVAILABLE', 'Service temporarily unavailable']],
]);

/** Retry-After as seconds: a number or an HTTP date (RFC 9110 §10.2.3); undefined if absent or bad. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, (when - nowMs) / 1000);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The typed error for a non-2xx answer: by `error.code` when the body is the seed's error body, else by status. */
export function errorFromResponse(status: number, body: Uint8Array, headers: Headers): CiferError {
  let code: string | undefined;
  let message: string | undefined;
  let details: Record<string, unknown> = {};
  let requestId = headers.get('X-Request-ID') ?? undefined;
  let parsed: unknown;
  try {
    parsed = body.length ? JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) : undefined;
  } catch {
    parsed = undefined;
  }
  if (isRecord(parsed)) {
    const error = parsed['error'];
    if (isRecord(error) && typeof error['code'] === 'string') {
      code = error['code'];
      message = typeof error['message'] === 'string' ? error['message'] : undefined;
      details = isRecord(error['details']) ? error['details'] : {};
    }
    const meta = parsed['meta'];
    if (isRecord(meta) && typeof meta['request_id'] === 'string' && meta['request_id']) requestId = meta['request_id'];
  }
  const known = BY_STATUS.get(status);
  code ??= known?.[0] ?? `HTTP_${status}`;
  message ??= known && known[0] === code ? known[1] : `HTTP ${status}`;
  let retryAfter = parseRetryAfter(headers.get('Retry-After'));
  const hinted = details['retry_after'];
  if (retryAfter === undefined && typeof hinted === 'number' && Number.isFinite(hinted)) retryAfter = Math.max(0, hinted);
  const Class = ERROR_CLASSES.get(code) ?? CiferError;
  return new Class(message, { code, status, details, requestId, retryAfter });
}

export function invalidResponse(what: string): CiferError {
  return new CiferError(`the server's answer is malformed: ${what}`, { code: INVALID_RESPONSE });
}
