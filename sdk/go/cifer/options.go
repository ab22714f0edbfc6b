package cifer

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"
)

// The environment a Client reads when an option does not say (seed §10.4's pod spec).
const (
	DefaultBaseURL = "http://localhost:8080" // the sidecar in the pod
	BaseURLEnv     = "CIFER_PROXY_URL"
	APIKeyEnv      = "CIFER_API_KEY"
)

// Option configures a Client in NewClient.
type Option func(*config) error

type config struct {
	apiKey       *string
	tokenSource  func(ctx context.Context) (string, error)
	region       string
	baseURL      string
	httpClient   *http.Client
	timeout      time.Duration
	retry        RetryPolicy
	breakerFails int
	breakerCool  time.Duration
	metrics      Metrics
	tracer       Tracer
	maxResponse  int64
	streamIdle   time.Duration
	userAgent    string
	sleep        func(ctx context.Context, d time.Duration) error // injectable: tests see waits without sleeping
	now          func() time.Time
}

// RetryPolicy says when a failed call is tried again: only 429, 503 (and a bare 502/504) and
// no answer at all. The wait is exponential with equal jitter and never shorter than the
// server's Retry-After; a Retry-After longer than MaxRetryAfter is handed to the caller as the
// error rather than slept through.
type RetryPolicy struct {
	MaxRetries     int           // tries after the first; 0 turns retries off
	InitialBackoff time.Duration // the first retry's base wait; it doubles with each further one
	MaxBackoff     time.Duration // cap on the exponential wait
	MaxRetryAfter  time.Duration // a longer Retry-After goes to the caller
}

// DefaultRetryPolicy is the Python SDK's: 3 retries from 500 ms, capped at 30 s, Retry-After up to 60 s.
var DefaultRetryPolicy = RetryPolicy{MaxRetries: 3, InitialBackoff: 500 * time.Millisecond,
	MaxBackoff: 30 * time.Second, MaxRetryAfter: 60 * time.Second}

var regionRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// WithAPIKey sets the credential sent as `Authorization: Bearer <key>` (seed §3.2). Without it
// the client uses $CIFER_API_KEY, else sends none: a sidecar on loopback then acts with its
// pod's own identity. An empty key means "send none", whatever the environment says.
func WithAPIKey(key string) Option {
	return func(c *config) error {
		c.apiKey = &key
		return nil
	}
}

// WithTokenSource sets a function asked for the bearer token before every attempt, in place of a
// fixed key: for a credential that changes over time, such as a projected ServiceAccount token
// file the kubelet rotates. An empty token sends no Authorization header; an error fails the call
// (it is returned wrapped, so keep secrets out of it).
func WithTokenSource(source func(ctx context.Context) (string, error)) Option {
	return func(c *config) error {
		if source == nil {
			return errors.New("cifer: WithTokenSource(nil)")
		}
		c.tokenSource = source
		return nil
	}
}

// WithRegion names the region the application runs in (for example "us-east"). CIFER's API has
// no regional endpoints to pick from: calls go to the sidecar of the pod, which is in the pod's
// region. The region is reported to Metrics and Tracer and sent in the User-Agent.
func WithRegion(region string) Option {
	return func(c *config) error {
		if !regionRE.MatchString(region) || len(region) > 64 {
			return errors.New("cifer: a region is lower-case letters and digits separated by '-'")
		}
		c.region = region
		return nil
	}
}

// WithBaseURL sets the API's scheme, host and port (without /v1, which is stripped if given).
func WithBaseURL(url string) Option {
	return func(c *config) error {
		c.baseURL = url
		return nil
	}
}

// WithHTTPClient sets the http.Client every call goes through (its Transport is the connection
// pool). The client is copied so that redirects are never followed: one could carry the
// Authorization header to another host.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("cifer: WithHTTPClient(nil)")
		}
		c.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each JSON call, retries and their waits included (default 60 s; 0: only
// the context bounds it). Streams are bounded by their context alone.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("cifer: negative timeout")
		}
		c.timeout = d
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error {
		if p.MaxRetries < 0 || p.InitialBackoff < 0 || p.MaxBackoff < 0 || p.MaxRetryAfter < 0 {
			return errors.New("cifer: retry settings must not be negative")
		}
		c.retry = p
		return nil
	}
}

// WithMaxRetries sets only RetryPolicy.MaxRetries (0: no retries).
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return errors.New("cifer: negative retry count")
		}
		c.retry.MaxRetries = n
		return nil
	}
}

// WithCircuitBreaker opens the circuit after `failures` consecutive calls that got no answer or
// a 5xx, refusing calls with *CircuitOpenError for `cooldown`; then one trial call goes
// through, and its success closes the circuit again. failures == 0 turns the breaker off.
// Default: 5 failures, 10 s.
func WithCircuitBreaker(failures int, cooldown time.Duration) Option {
	return func(c *config) error {
		if failures < 0 || cooldown < 0 {
			return errors.New("cifer: circuit breaker settings must not be negative")
		}
		c.breakerFails, c.breakerCool = failures, cooldown
		return nil
	}
}

// WithMetrics sets the hook told of every HTTP attempt.
func WithMetrics(m Metrics) Option {
	return func(c *config) error {
		c.metrics = m
		return nil
	}
}

// WithTracer sets the hook that opens a span around every call.
func WithTracer(t Tracer) Option {
	return func(c *config) error {
		c.tracer = t
		return nil
	}
}

// WithStreamIdleTimeout ends a stream when the server sends nothing for d: no answer to
// EncryptStream or DecryptStream (a *ConnectionError), or no next bytes of its body (a
// *StreamError from Read). Only the waits for the server count, not the caller's own pauses
// between reads. Default 300 s; 0: only the context bounds a stream.
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("cifer: negative stream idle timeout")
		}
		c.streamIdle = d
		return nil
	}
}

// WithMaxResponseBytes bounds a JSON success answer (default 64 MiB); a larger one is an
// INVALID_RESPONSE error, never read whole. Streams are not bounded: they are read as they come.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("cifer: max response bytes must be positive")
		}
		c.maxResponse = n
		return nil
	}
}
