package cifer

import (
	"context"
	"time"
)

// Attempt is one HTTP exchange of a call, as Metrics sees it. A call retried twice is three
// attempts with the same Operation and RequestID.
type Attempt struct {
	Operation string        // the OpenAPI operationId: "createCifer", "encryptData", ...
	Method    string        // "POST"
	Path      string        // "/v1/cifers/{cifer_id}": the template, so ids do not explode label sets
	Region    string        // WithRegion's value, or ""
	Number    int           // 0 for the first try, 1 for the first retry, ...
	Status    int           // the HTTP status; 0 when there was no answer (or the breaker refused)
	Code      string        // the error code; "" on success
	RequestID string        // the X-Request-ID sent (and echoed)
	Duration  time.Duration // from sending to the answer's headers (or the failure)
}

// Metrics is told of every attempt; implement it with any metrics library (Prometheus,
// OpenTelemetry, expvar). It is called from the goroutine making the call and must not block.
type Metrics interface {
	ObserveAttempt(a Attempt)
}

// Tracer opens a span around every call (its retries included). The request id the SDK sends
// as X-Request-ID is set as the attribute "cifer.request_id", so a trace finds the server's
// audit record.
type Tracer interface {
	StartSpan(ctx context.Context, operation string) (context.Context, Span)
}

// Span is a Tracer's span.
type Span interface {
	SetAttribute(key, value string)
	End(err error)
}
