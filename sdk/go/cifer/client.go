package cifer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is the SDK's version, sent in the User-Agent.
const Version = "0.1.0"

const (
	idempotencyHeader = "X-Idempotency-Key"
	requestIDHeader   = "X-Request-ID"
)

// Client calls the CIFER API. It is safe for concurrent use; make one and share it, so that
// all calls share one connection pool.
type Client struct {
	Cifers   *CifersService   // /v1/cifers: seed §4.1, §4.2, §4.5, §4.6
	Keys     *KeysService     // /v1/keys: seed §4.7
	Webhooks *WebhooksService // /v1/webhooks: seed §7.4
	Security *SecurityService // /api/security: seed 001's key management and data encryption

	baseURL   string
	apiKey    string
	region    string
	userAgent string
	hc        *http.Client
	cfg       config
	breaker   *breaker
	rngMu     sync.Mutex
	rng       *mathrand.Rand
}

// NewClient makes a Client; see the Option functions for what can be set.
func NewClient(opts ...Option) (*Client, error) {
	cfg := config{
		timeout:      60 * time.Second,
		retry:        DefaultRetryPolicy,
		breakerFails: 5,
		breakerCool:  10 * time.Second,
		maxResponse:  64 << 20,
		streamIdle:   300 * time.Second,
		sleep:        sleepContext,
		now:          time.Now,
	}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	base, err := resolveBaseURL(cfg.baseURL)
	if err != nil {
		return nil, err
	}
	key := os.Getenv(APIKeyEnv)
	if cfg.apiKey != nil {
		key = *cfg.apiKey
	}
	if strings.ContainsAny(key, "\r\n") || !isVisibleASCII(key) {
		return nil, errors.New("cifer: the API key must be visible ASCII")
	}
	var hc http.Client
	if cfg.httpClient != nil {
		hc = *cfg.httpClient
	} else {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = 64 // one client is shared by many goroutines
		hc.Transport = transport
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ua := "cifer-go/" + Version + " (" + runtime.Version()
	if cfg.region != "" {
		ua += "; region=" + cfg.region
	}
	ua += ")"
	c := &Client{baseURL: base, apiKey: key, region: cfg.region, userAgent: ua, hc: &hc, cfg: cfg,
		breaker: &breaker{threshold: cfg.breakerFails, cooldown: cfg.breakerCool, now: cfg.now},
		rng:     mathrand.New(mathrand.NewSource(seed()))}
	c.Cifers = &CifersService{c}
	c.Keys = &KeysService{c}
	c.Webhooks = &WebhooksService{c}
	c.Security = &SecurityService{c}
	return c, nil
}

// BaseURL is where the client sends its calls (without /v1).
func (c *Client) BaseURL() string { return c.baseURL }

// Region is WithRegion's value.
func (c *Client) Region() string { return c.region }

// CloseIdleConnections closes the pool's idle connections (for a Client no longer needed).
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

func resolveBaseURL(given string) (string, error) {
	raw := given
	if raw == "" {
		raw = os.Getenv(BaseURLEnv)
	}
	if raw == "" {
		raw = DefaultBaseURL
	}
	raw = strings.TrimRight(raw, "/")
	raw = strings.TrimSuffix(raw, "/v1") // seed §1.3 writes base URLs with the version; calls add it
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("cifer: the base URL must be an absolute http(s) URL without query")
	}
	if u.User != nil {
		return "", errors.New("cifer: the base URL must not carry credentials; use WithAPIKey")
	}
	return raw, nil
}

func isVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func seed() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return time.Now().UnixNano()
	}
	var n int64
	for _, x := range b {
		n = n<<8 | int64(x)
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("cifer: internal error: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// NewIdempotencyKey is a fresh X-Idempotency-Key ("idem_" and 128 random bits), for callers who
// want to repeat a call themselves and have the server do it once.
func NewIdempotencyKey() string { return "idem_" + randomHex(16) }

func newRequestID() string { return "req_" + randomHex(12) }

// checkIdempotencyKey: 1 to 255 printable ASCII characters, no leading or trailing space (HTTP
// would strip it, and the server would see another key).
func checkIdempotencyKey(key string) error {
	if len(key) < 1 || len(key) > 255 || key[0] == ' ' || key[len(key)-1] == ' ' {
		return errors.New("cifer: an idempotency key is 1 to 255 printable ASCII characters, not starting or ending with a space")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return errors.New("cifer: an idempotency key is 1 to 255 printable ASCII characters, not starting or ending with a space")
		}
	}
	return nil
}

// endpoint is one row of the API's endpoint table (cifer/api/endpoints.py), as the SDK calls it.
type endpoint struct {
	operation string // its OpenAPI operationId
	method    string
	path      string // the template, with {placeholders}
}

// call is one SDK call in the making.
type call struct {
	ep             endpoint
	pathArgs       []string // values for the template's placeholders, in order
	query          url.Values
	body           interface{} // marshalled as JSON when not nil
	header         http.Header
	idempotencyKey string
}

func (ep endpoint) url(base string, args []string) (string, error) {
	path := ep.path
	for _, arg := range args {
		open := strings.IndexByte(path, '{')
		end := strings.IndexByte(path, '}')
		if open < 0 || end < open {
			panic("internal error: more path arguments than placeholders in " + ep.path)
		}
		if arg == "" {
			if p := path[open : end+1]; p == "{cifer_id}" || p == "{keyId}" { // a seed-001 key id is a cifer id
				return "", typed(&CiferError{Code: CodeInvalidCiferID, Message: "the cifer id is empty"})
			}
			return "", typed(&CiferError{Code: CodeInvalidRequest, Message: "an id in the path is empty"})
		}
		path = path[:open] + url.PathEscape(arg) + path[end+1:] // a '/' or '..' in an id cannot reach another endpoint
	}
	if strings.IndexByte(path, '{') >= 0 {
		panic("internal error: a placeholder without its argument in " + ep.path)
	}
	return base + path, nil
}

// do sends a JSON call with retries and returns the answer's `data` decoded into out.
func (c *Client) do(ctx context.Context, cl call, out interface{}) (err error) {
	if ctx == nil {
		return errors.New("cifer: nil context")
	}
	if c.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.timeout)
		defer cancel()
	}
	target, err := cl.ep.url(c.baseURL, cl.pathArgs)
	if err != nil {
		return err
	}
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var payload []byte
	if cl.body != nil {
		if payload, err = json.Marshal(cl.body); err != nil {
			return err
		}
	}
	header, err := c.headers(cl)
	if err != nil {
		return err
	}
	header.Set("Accept", "application/json")
	if payload != nil {
		header.Set("Content-Type", "application/json")
	}
	ctx, span, requestID := c.startSpan(ctx, cl.ep)
	defer func() { span.End(err) }()
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		var resp *http.Response
		resp, err = c.send(ctx, cl.ep, attempt, requestID, target, header, body)
		if err == nil {
			var data []byte
			data, err = readCapped(resp.Body, c.cfg.maxResponse)
			resp.Body.Close()
			var ce *CiferError
			if err != nil && !errors.As(err, &ce) {
				err = connectionError(c.baseURL, err)
			} else if err == nil {
				return unwrap(data, out)
			}
		}
		if err = c.waitBeforeRetry(ctx, attempt, err); err != nil {
			return err
		}
	}
}

// headers are a call's own headers plus an idempotency key on a POST or PATCH, the same on
// every retry (so the server answers a repeat from its record of the first).
func (c *Client) headers(cl call) (http.Header, error) {
	header := http.Header{}
	for k, v := range cl.header {
		header[k] = v
	}
	if cl.ep.method == http.MethodPost || cl.ep.method == http.MethodPatch {
		key := cl.idempotencyKey
		if key == "" {
			key = NewIdempotencyKey()
		} else if err := checkIdempotencyKey(key); err != nil {
			return nil, err
		}
		header.Set(idempotencyHeader, key)
	} else if cl.idempotencyKey != "" {
		panic("internal error: an idempotency key on a " + cl.ep.method)
	}
	return header, nil
}

// nopSpan stands in when no Tracer is set.
type nopSpan struct{}

func (nopSpan) SetAttribute(string, string) {}
func (nopSpan) End(error)                   {}

func (c *Client) startSpan(ctx context.Context, ep endpoint) (context.Context, Span, string) {
	requestID := newRequestID()
	if c.cfg.tracer == nil {
		return ctx, nopSpan{}, requestID
	}
	ctx, span := c.cfg.tracer.StartSpan(ctx, ep.operation)
	if span == nil {
		return ctx, nopSpan{}, requestID
	}
	span.SetAttribute("http.method", ep.method)
	span.SetAttribute("http.route", ep.path)
	span.SetAttribute("cifer.request_id", requestID)
	if c.region != "" {
		span.SetAttribute("cifer.region", c.region)
	}
	return ctx, span, requestID
}

// send makes one attempt: through the breaker, with credentials, reported to Metrics. A
// non-2xx answer is read (bounded) and returned as its typed error; a 2xx is returned open.
// A body of unknown length (a stream's source) goes chunked.
func (c *Client) send(ctx context.Context, ep endpoint, attempt int, requestID, target string, header http.Header,
	body io.Reader) (*http.Response, error) {
	started := c.cfg.now()
	a := Attempt{Operation: ep.operation, Method: ep.method, Path: ep.path, Region: c.region, Number: attempt,
		RequestID: requestID}
	if attempt > 0 {
		a.RequestID = requestID + "." + strconv.Itoa(attempt)
	}
	report := func(status int, err error) {
		if c.cfg.metrics == nil {
			return
		}
		a.Status, a.Duration = status, c.cfg.now().Sub(started)
		var ce *CiferError
		if errors.As(err, &ce) {
			a.Code = ce.Code
		}
		c.cfg.metrics.ObserveAttempt(a)
	}
	if wait, ok := c.breaker.allow(); !ok {
		err := typed(&CiferError{Code: CodeCircuitOpen, RetryAfter: wait,
			Message: "the circuit breaker is open after repeated failures of " + displayURL(c.baseURL)})
		report(0, err)
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, ep.method, target, body)
	if err != nil {
		c.breaker.release()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(requestIDHeader, a.RequestID)
	token := c.apiKey
	if c.cfg.tokenSource != nil {
		if token, err = c.cfg.tokenSource(ctx); err != nil {
			c.breaker.release()
			err = fmt.Errorf("cifer: the token source failed: %w", err)
			report(0, err)
			return nil, err
		}
		if !isVisibleASCII(token) {
			c.breaker.release()
			err = errors.New("cifer: the token source returned a token that is not visible ASCII")
			report(0, err)
			return nil, err
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil { // the caller gave up: not the server's failure
			c.breaker.release()
			report(0, ctx.Err())
			return nil, ctx.Err()
		}
		err = connectionError(c.baseURL, err)
		c.breaker.record(false)
		report(0, err)
		return nil, err
	}
	c.breaker.record(resp.StatusCode < 500)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		report(resp.StatusCode, nil)
		return resp, nil
	}
	data, _ := readCapped(resp.Body, maxErrorBodyBytes)
	resp.Body.Close()
	err = errorFromResponse(resp.StatusCode, resp.Header, data, c.cfg.now())
	report(resp.StatusCode, err)
	return nil, err
}

// waitBeforeRetry returns nil after sleeping when err may heal and retries are left, else err.
func (c *Client) waitBeforeRetry(ctx context.Context, attempt int, err error) error {
	delay, ok := c.delay(attempt, err)
	if !ok {
		return err
	}
	if c.cfg.sleep(ctx, delay) != nil {
		return err // the context ended while waiting: the caller sees why the call failed
	}
	return nil
}

// delay is the wait before retry number attempt+1 after err; false: give up.
func (c *Client) delay(attempt int, err error) (time.Duration, bool) {
	p := c.cfg.retry
	if attempt >= p.MaxRetries {
		return 0, false
	}
	var ce *CiferError
	if !errors.As(err, &ce) {
		return 0, false
	}
	switch ce.Code {
	case CodeRateLimitExceeded, CodeServiceUnavailable, CodeConnectionError:
	default:
		return 0, false
	}
	step := p.InitialBackoff << uint(attempt)
	if step > p.MaxBackoff || step <= 0 && p.InitialBackoff > 0 {
		step = p.MaxBackoff
	}
	c.rngMu.Lock()
	jitter := time.Duration(c.rng.Int63n(int64(step/2) + 1))
	c.rngMu.Unlock()
	backoff := step/2 + jitter // equal jitter: many clients do not come back in step
	if ce.RetryAfter == 0 {
		return backoff, true
	}
	if ce.RetryAfter > p.MaxRetryAfter {
		return 0, false
	}
	if ce.RetryAfter > backoff {
		return ce.RetryAfter, true
	}
	return backoff, true
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func connectionError(base string, err error) error {
	reason := "connection failed"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		reason = "timed out"
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		reason = "connection closed before the answer"
	}
	return typed(&CiferError{Code: CodeConnectionError, Message: "no answer from the CIFER API at " + displayURL(base) + ": " + reason, cause: err})
}

// displayURL is a URL fit for messages (credentials are refused at NewClient anyway).
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	u.User = nil
	return u.String()
}

// readCapped reads at most limit bytes; more is an INVALID_RESPONSE error.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, invalidResponse("the body is larger than %d bytes", limit)
	}
	return data, nil
}

// unwrap decodes the `data` of the seed's success body (§2.3) into out.
func unwrap(body []byte, out interface{}) error {
	var envelope struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return invalidResponse("the body is not JSON")
	}
	if !envelope.Success || len(envelope.Data) == 0 || envelope.Data[0] != '{' {
		return invalidResponse("the body is not a success response body")
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(envelope.Data, out); err != nil {
		return invalidResponse("data does not fit its schema: %v", err)
	}
	if raw, ok := out.(interface{ setRaw(json.RawMessage) }); ok {
		raw.setRaw(envelope.Data)
	}
	return nil
}
