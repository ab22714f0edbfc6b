/**
 * Metrics and tracing hooks (seed §6.6). Nothing here imports OpenTelemetry: `tracer` is any
 * object shaped like `@opentelemetry/api`'s Tracer (an optional peer dependency), so the SDK
 * costs nothing to those who do not trace.
 */

/** One HTTP attempt, reported to `onRequest` when it ends (its retries are further events). */
export interface RequestEvent {
  /** The endpoint's OpenAPI operationId, e.g. `encryptData`, `getCifer`: low-cardinality, fit for a metric label. */
  operation: string;
  method: string;
  /** The path template, e.g. `/v1/cifers/{cifer_id}`: never an id. */
  path: string;
  /** 0 for the first attempt, then 1, 2, ... for retries. */
  attempt: number;
  /** HTTP status; undefined when there was no answer. */
  status: number | undefined;
  /** The error code when the attempt failed (`RATE_LIMIT_EXCEEDED`, `CONNECTION_ERROR`, ...). */
  errorCode: string | undefined;
  durationMs: number;
  requestId: string | undefined;
  /** Whether this failure will be retried. */
  willRetry: boolean;
}

export type RequestHook = (event: RequestEvent) => void;

/** The part of an OpenTelemetry Span the SDK uses. */
export interface SpanLike {
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException?(exception: Error): unknown;
  end(): void;
  spanContext?(): { traceId: string; spanId: string; traceFlags: number };
}

/** The part of an OpenTelemetry Tracer the SDK uses (`trace.getTracer('@cifer-io/sdk')` fits). */
export interface TracerLike {
  startSpan(name: string, options?: { kind?: number; attributes?: Record<string, string | number | boolean> }): SpanLike;
}

export const SPAN_KIND_CLIENT = 2; // OpenTelemetry's SpanKind.CLIENT
export const SPAN_STATUS_ERROR = 2; // OpenTelemetry's SpanStatusCode.ERROR

/** The W3C traceparent of a span, so the sidecar's trace continues the caller's. */
export function traceparent(span: SpanLike): string | undefined {
  const context = span.spanContext?.();
  if (!context || !/^[0-9a-f]{32}$/.test(context.traceId) || !/^[0-9a-f]{16}$/.test(context.spanId)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
