package cifer

// Offline tests of the client's manners against httptest servers: what the real `cifer dev`
// cannot be made to do on demand (a 500, a 503, a cut-off stream, a redirect) and what must be
// seen exactly (the waits, the headers of every attempt). live_test.go runs against cifer dev.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func errorBody(code, message string, details string) string {
	if details == "" {
		details = "{}"
	}
	return fmt.Sprintf(`{"success":false,"error":{"code":%q,"message":%q,"details":%s},"meta":{"request_id":"req_server1"}}`,
		code, message, details)
}

// recorded is what a fake server saw of one request.
type recorded struct {
	method, path, idempotencyKey, requestID, authorization, body string
}

type fake struct {
	mu       sync.Mutex
	requests []recorded
	answer   func(n int, w http.ResponseWriter, r *http.Request)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.Header.Get("X-Idempotency-Key"),
		r.Header.Get("X-Request-ID"), r.Header.Get("Authorization"), string(body)})
	f.mu.Unlock()
	f.answer(n, w, r)
}

func (f *fake) seen() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// offline is a client of srv whose waits are recorded instead of slept.
func offline(t *testing.T, srv *httptest.Server, opts ...Option) (*Client, *[]time.Duration) {
	t.Helper()
	var waits []time.Duration
	c, err := NewClient(append([]Option{WithBaseURL(srv.URL), WithAPIKey("sk_test_offline")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	c.cfg.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return c, &waits
}

func jsonAnswer(w http.ResponseWriter, status int, body string, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

const cifOK = `{"success":true,"data":{"cifer_id":"cif_abcdefghijkl","name":"n","status":"active","key_version":1,"created_at":"2026-01-08T10:30:00Z"}}`

// Every seed code becomes its own type, usable with errors.As, unwrapping to *CiferError with
// the code, the status, the request id and the details.
func TestEveryCodeIsItsOwnTypeUnderErrorsAs(t *testing.T) {
	cases := []struct {
		code   string
		status int
		check  func(error) bool
	}{
		{CodeInvalidRequest, 400, func(err error) bool { var e *InvalidRequestError; return errors.As(err, &e) }},
		{CodeInvalidCiferID, 400, func(err error) bool { var e *InvalidCiferIDError; return errors.As(err, &e) }},
		{CodeInvalidCiphertext, 400, func(err error) bool { var e *InvalidCiphertextError; return errors.As(err, &e) }},
		{CodeUnauthorized, 401, func(err error) bool { var e *AuthenticationError; return errors.As(err, &e) }},
		{CodeForbidden, 403, func(err error) bool { var e *PermissionDeniedError; return errors.As(err, &e) }},
		{CodeUnauthorizedDecrypt, 403, func(err error) bool {
			var e *UnauthorizedDecryptError
			var p *PermissionDeniedError
			return errors.As(err, &e) && e.CiferID == "cif_abcdefghijkl" && errors.As(err, &p)
		}},
		{CodeNotFound, 404, func(err error) bool { var e *NotFoundError; return errors.As(err, &e) }},
		{CodeCiferRevoked, 410, func(err error) bool { var e *CiferRevokedError; return errors.As(err, &e) }},
		{CodeRateLimitExceeded, 429, func(err error) bool {
			var e *RateLimitError
			return errors.As(err, &e) && e.RetryAfter == 7*time.Second
		}},
		{CodeInternalError, 500, func(err error) bool { var e *InternalError; return errors.As(err, &e) }},
		{CodeServiceUnavailable, 503, func(err error) bool { var e *ServiceUnavailableError; return errors.As(err, &e) }},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			srv := httptest.NewServer(&fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
				jsonAnswer(w, tc.status, errorBody(tc.code, "m", `{"cifer_id":"cif_abcdefghijkl"}`), "Retry-After", "7")
			}})
			defer srv.Close()
			c, _ := offline(t, srv, WithMaxRetries(0))
			_, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl")
			if !tc.check(err) {
				t.Fatalf("%v (%T) is not the code's type", err, err)
			}
			var ce *CiferError
			if !errors.As(err, &ce) || ce.Code != tc.code || ce.Status != tc.status || ce.RequestID != "req_server1" ||
				ce.Details["cifer_id"] != "cif_abcdefghijkl" {
				t.Fatalf("the CiferError is %+v", ce)
			}
			if got := err.Error(); !strings.Contains(got, tc.code) || strings.Contains(got, "sk_test_offline") {
				t.Fatalf("message %q", got)
			}
		})
	}
}

// A body that is not the seed's error (a load balancer's page) is typed by its status.
func TestAnAnswerWithoutTheSeedsBodyIsTypedByItsStatus(t *testing.T) {
	srv := httptest.NewServer(&fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "req_header")
		w.WriteHeader(502)
		io.WriteString(w, "<html>bad gateway</html>")
	}})
	defer srv.Close()
	c, _ := offline(t, srv, WithMaxRetries(0))
	_, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl")
	var e *ServiceUnavailableError
	if !errors.As(err, &e) || e.Status != 502 || e.RequestID != "req_header" {
		t.Fatalf("%#v", err)
	}
}

// 503 is retried with the same idempotency key on every attempt, waiting at least Retry-After,
// and each attempt carries its own X-Request-ID derived from the call's.
func TestA503IsRetriedWithTheSameIdempotencyKeyAfterRetryAfter(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			jsonAnswer(w, 503, errorBody(CodeServiceUnavailable, "busy", ""), "Retry-After", "2")
			return
		}
		jsonAnswer(w, 201, cifOK)
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, waits := offline(t, srv)
	cif, err := c.Cifers.Create(context.Background(), &CreateParams{Name: "n"})
	if err != nil || cif.ID != "cif_abcdefghijkl" || cif.CreatedAt.Year() != 2026 {
		t.Fatal(cif, err)
	}
	seen := f.seen()
	if len(seen) != 3 || len(*waits) != 2 {
		t.Fatalf("%d requests, waits %v", len(seen), *waits)
	}
	for _, w := range *waits {
		if w < 2*time.Second {
			t.Fatalf("waited %v, less than Retry-After", w)
		}
	}
	if !strings.HasPrefix(seen[0].idempotencyKey, "idem_") || seen[1].idempotencyKey != seen[0].idempotencyKey ||
		seen[2].idempotencyKey != seen[0].idempotencyKey {
		t.Fatalf("idempotency keys %q %q %q", seen[0].idempotencyKey, seen[1].idempotencyKey, seen[2].idempotencyKey)
	}
	if seen[1].requestID != seen[0].requestID+".1" || seen[2].requestID != seen[0].requestID+".2" {
		t.Fatalf("request ids %q %q %q", seen[0].requestID, seen[1].requestID, seen[2].requestID)
	}
	if seen[0].authorization != "Bearer sk_test_offline" || seen[0].body != `{"name":"n"}` {
		t.Fatalf("%+v", seen[0])
	}
}

// GET and DELETE carry no idempotency key; a caller's own key is sent as given.
func TestIdempotencyKeysOnlyOnPostAndPatch(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "DELETE":
			jsonAnswer(w, 200, `{"success":true,"data":{"cifer_id":"cif_abcdefghijkl","status":"revoked","revoked_at":"2026-01-08T10:30:00Z"}}`)
		default:
			jsonAnswer(w, 200, cifOK)
		}
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := offline(t, srv)
	ctx := context.Background()
	c.Cifers.Get(ctx, "cif_abcdefghijkl")
	c.Cifers.Revoke(ctx, "cif_abcdefghijkl")
	c.Cifers.Update(ctx, "cif_abcdefghijkl", &UpdateParams{Name: "x", IdempotencyKey: "mine-1"})
	if _, err := c.Cifers.Create(ctx, &CreateParams{IdempotencyKey: " bad"}); err == nil {
		t.Fatal("a key with a leading space was taken")
	}
	seen := f.seen()
	if len(seen) != 3 || seen[0].idempotencyKey != "" || seen[1].idempotencyKey != "" || seen[2].idempotencyKey != "mine-1" {
		t.Fatalf("%+v", seen)
	}
}

// A Retry-After longer than MaxRetryAfter is handed to the caller, not slept through; a 400 is
// never retried.
func TestLongRetryAfterAndClientErrorsAreNotRetried(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/cifers/cif_abcdefghijkl" {
			jsonAnswer(w, 429, errorBody(CodeRateLimitExceeded, "slow", `{"retry_after":3600}`))
			return
		}
		jsonAnswer(w, 400, errorBody(CodeInvalidCiferID, "bad", ""))
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, waits := offline(t, srv)
	_, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl")
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Hour || len(*waits) != 0 {
		t.Fatalf("%v %v", err, *waits)
	}
	_, err = c.Cifers.Get(context.Background(), "nope")
	var bad *InvalidCiferIDError
	if !errors.As(err, &bad) || len(f.seen()) != 2 {
		t.Fatalf("%v, %d requests", err, len(f.seen()))
	}
}

// Retry-After as an HTTP date.
func TestRetryAfterAsAnHTTPDate(t *testing.T) {
	now := time.Date(2026, 1, 8, 10, 30, 0, 0, time.UTC)
	d, ok := parseRetryAfter("Thu, 08 Jan 2026 10:30:30 GMT", now)
	if !ok || d != 30*time.Second {
		t.Fatal(d, ok)
	}
	for _, bad := range []string{"", "soon", "-1", "NaN"} {
		if _, ok := parseRetryAfter(bad, now); ok {
			t.Fatalf("%q was taken", bad)
		}
	}
}

// No answer at all is a *ConnectionError (retried, then given to the caller) that names the
// base URL and not the key.
func TestNoAnswerIsAConnectionError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := NewClient(WithBaseURL("http://"+addr), WithAPIKey("sk_test_secretsecret"), WithCircuitBreaker(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.cfg.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	_, err = c.Cifers.Get(context.Background(), "cif_abcdefghijkl")
	var ce *ConnectionError
	if !errors.As(err, &ce) || ce.Code != CodeConnectionError || len(waits) != 3 {
		t.Fatalf("%v %v", err, waits)
	}
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("message %q", err.Error())
	}
}

// After 5 failures in a row the breaker refuses without sending, for the cooldown; then one
// trial goes, and its success closes the circuit.
func TestTheCircuitBreakerOpensAndRecovers(t *testing.T) {
	healthy := false
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if healthy {
			jsonAnswer(w, 200, cifOK)
			return
		}
		jsonAnswer(w, 500, errorBody(CodeInternalError, "boom", ""))
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	now := time.Unix(1_700_000_000, 0)
	c, err := NewClient(WithBaseURL(srv.URL), WithCircuitBreaker(5, 10*time.Second), WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	c.cfg.now = func() time.Time { return now }
	c.breaker.now = c.cfg.now
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.Cifers.Get(ctx, "cif_abcdefghijkl"); !errors.As(err, new(*InternalError)) {
			t.Fatal(err)
		}
	}
	_, err = c.Cifers.Get(ctx, "cif_abcdefghijkl")
	var open *CircuitOpenError
	if !errors.As(err, &open) || open.RetryAfter != 10*time.Second || len(f.seen()) != 5 {
		t.Fatalf("%v, %d sent", err, len(f.seen()))
	}
	now = now.Add(11 * time.Second)
	healthy = true
	if _, err := c.Cifers.Get(ctx, "cif_abcdefghijkl"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cifers.Get(ctx, "cif_abcdefghijkl"); err != nil || len(f.seen()) != 7 {
		t.Fatal(err, len(f.seen()))
	}
}

// A 4xx is an answer from a healthy server: it never opens the circuit.
func TestClientErrorsDoNotOpenTheCircuit(t *testing.T) {
	srv := httptest.NewServer(&fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		jsonAnswer(w, 404, errorBody(CodeNotFound, "no", ""))
	}})
	defer srv.Close()
	c, _ := offline(t, srv)
	for i := 0; i < 10; i++ {
		if _, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl"); !errors.As(err, new(*NotFoundError)) {
			t.Fatal(i, err)
		}
	}
}

// A redirect is never followed (it could carry the Authorization header elsewhere).
func TestRedirectsAreNotFollowed(t *testing.T) {
	other := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) { jsonAnswer(w, 200, cifOK) }}
	elsewhere := httptest.NewServer(other)
	defer elsewhere.Close()
	srv := httptest.NewServer(&fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}})
	defer srv.Close()
	c, _ := offline(t, srv, WithHTTPClient(&http.Client{}))
	_, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl")
	if err == nil || len(other.seen()) != 0 {
		t.Fatalf("%v, the other server saw %d", err, len(other.seen()))
	}
}

// A success body larger than the bound is refused, not read whole.
func TestAnOversizedAnswerIsRefused(t *testing.T) {
	srv := httptest.NewServer(&fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		jsonAnswer(w, 200, `{"success":true,"data":{"cifer_id":"`+strings.Repeat("a", 4096)+`"}}`)
	}})
	defer srv.Close()
	c, _ := offline(t, srv, WithMaxResponseBytes(1024))
	_, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl")
	var ce *CiferError
	if !errors.As(err, &ce) || ce.Code != CodeInvalidResponse {
		t.Fatal(err)
	}
}

// An id is one path segment: a '/' or '..' in it cannot reach another endpoint.
func TestIdsAreEscapedIntoOnePathSegment(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		jsonAnswer(w, 404, errorBody(CodeNotFound, "no", ""))
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := offline(t, srv)
	c.Cifers.Get(context.Background(), "../webhooks")
	if n := len(f.seen()); n != 1 {
		t.Fatalf("%d requests", n)
	}
	if _, err := c.Cifers.Get(context.Background(), ""); !errors.As(err, new(*InvalidCiferIDError)) || len(f.seen()) != 1 {
		t.Fatalf("an empty id: %v", err)
	}
	u, _ := epGetCifer.url("http://x", []string{"../webhooks"})
	if u != "http://x/v1/cifers/..%2Fwebhooks" {
		t.Fatal(u)
	}
}

// A stream cut off before its terminating chunk is a *StreamError, never a quiet EOF.
func TestACutOffStreamIsAStreamError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Cifer-Id", "cif_abcdefghijkl")
		w.Header().Set("X-Cifer-Key-Version", "3")
		w.WriteHeader(200)
		w.Write(bytes.Repeat([]byte("x"), 1000))
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // no terminating chunk
	}))
	defer srv.Close()
	c, _ := offline(t, srv)
	rc, err := c.DecryptStream(context.Background(), strings.NewReader("envelope"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	s := rc.(*Stream)
	if s.CiferID != "cif_abcdefghijkl" || s.KeyVersion != 3 {
		t.Fatalf("%+v", s)
	}
	_, err = io.Copy(io.Discard, rc)
	var se *StreamError
	if !errors.As(err, &se) || se.Code != CodeStreamAborted {
		t.Fatalf("%v (%T)", err, err)
	}
}

type failingReader struct{ n int }

var errDisk = errors.New("disk on fire")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		return 0, errDisk
	}
	f.n++
	return copy(p, "some bytes"), nil
}

// The source's own failure is given as it is, not blamed on the server.
func TestASourceFailureIsReportedAsItself(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
	}))
	defer srv.Close()
	c, _ := offline(t, srv)
	rc, err := c.EncryptStream(context.Background(), "cif_abcdefghijkl", &failingReader{})
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	if !errors.Is(err, errDisk) {
		t.Fatalf("%v", err)
	}
}

// A stream whose source was already read from is not retried; one that was not, is.
func TestStreamsAreRetriedOnlyBeforeTheirBodyWasRead(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			jsonAnswer(w, 503, errorBody(CodeServiceUnavailable, "busy", ""))
			return
		}
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(200)
		io.WriteString(w, "ok")
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, waits := offline(t, srv)
	// The fake reads the whole body before answering 503, so the body was taken: no retry.
	_, err := c.EncryptStream(context.Background(), "cif_abcdefghijkl", strings.NewReader("plain"))
	if !errors.As(err, new(*ServiceUnavailableError)) || len(*waits) != 0 {
		t.Fatalf("%v %v", err, *waits)
	}
}

// Metrics see every attempt and the Tracer one span per call, with the request id.
func TestMetricsAndTracerHooks(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			jsonAnswer(w, 429, errorBody(CodeRateLimitExceeded, "slow", ""), "Retry-After", "1")
			return
		}
		jsonAnswer(w, 200, cifOK)
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	m := &memMetrics{}
	tr := &memTracer{}
	c, _ := offline(t, srv, WithMetrics(m), WithTracer(tr), WithRegion("us-east"))
	if _, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl"); err != nil {
		t.Fatal(err)
	}
	if len(m.attempts) != 2 || m.attempts[0].Status != 429 || m.attempts[0].Code != CodeRateLimitExceeded ||
		m.attempts[1].Status != 200 || m.attempts[1].Number != 1 || m.attempts[0].Operation != "getCifer" ||
		m.attempts[0].Path != "/v1/cifers/{cifer_id}" || m.attempts[0].Region != "us-east" {
		t.Fatalf("%+v", m.attempts)
	}
	if len(tr.spans) != 1 || tr.spans[0].name != "getCifer" || !tr.spans[0].ended || tr.spans[0].err != nil ||
		tr.spans[0].attrs["cifer.request_id"] != f.seen()[0].requestID {
		t.Fatalf("%+v", tr.spans)
	}
}

type memMetrics struct {
	mu       sync.Mutex
	attempts []Attempt
}

func (m *memMetrics) ObserveAttempt(a Attempt) {
	m.mu.Lock()
	m.attempts = append(m.attempts, a)
	m.mu.Unlock()
}

type memSpan struct {
	name  string
	attrs map[string]string
	ended bool
	err   error
}

func (s *memSpan) SetAttribute(k, v string) { s.attrs[k] = v }
func (s *memSpan) End(err error)            { s.ended, s.err = true, err }

type memTracer struct{ spans []*memSpan }

func (t *memTracer) StartSpan(ctx context.Context, op string) (context.Context, Span) {
	s := &memSpan{name: op, attrs: map[string]string{}}
	t.spans = append(t.spans, s)
	return ctx, s
}

// The base URL: the option, else $CIFER_PROXY_URL, else the sidecar's own; /v1 is stripped;
// credentials in it are refused.
func TestTheBaseURLAndAPIKeyDefaults(t *testing.T) {
	t.Setenv(BaseURLEnv, "")
	t.Setenv(APIKeyEnv, "")
	c, err := NewClient()
	if err != nil || c.BaseURL() != DefaultBaseURL || c.apiKey != "" {
		t.Fatal(c.BaseURL(), err)
	}
	t.Setenv(BaseURLEnv, "http://127.0.0.1:9999/v1/")
	t.Setenv(APIKeyEnv, "sk_test_env")
	c, _ = NewClient()
	if c.BaseURL() != "http://127.0.0.1:9999" || c.apiKey != "sk_test_env" {
		t.Fatal(c.BaseURL(), c.apiKey)
	}
	c, _ = NewClient(WithBaseURL("https://api.cifer.io/v1"), WithAPIKey("sk_test_given"))
	if c.BaseURL() != "https://api.cifer.io" || c.apiKey != "sk_test_given" {
		t.Fatal(c.BaseURL(), c.apiKey)
	}
	for _, bad := range []string{"ftp://x", "http://user:pw@host", "localhost:8080", "http://x/?q=1"} {
		if _, err := NewClient(WithBaseURL(bad)); err == nil {
			t.Fatalf("%q was taken", bad)
		}
	}
	if _, err := NewClient(WithAPIKey("sk_test\nInjected: 1")); err == nil {
		t.Fatal("a key with a line break was taken")
	}
	if _, err := NewClient(WithRegion("US East")); err == nil {
		t.Fatal("a bad region was taken")
	}
}

func TestMetadataHeadersAreASCII(t *testing.T) {
	if got := asciiJSON([]byte(`{"f":"é😀"}`)); got != `{"f":"\u00e9\ud83d\ude00"}` {
		t.Fatal(got)
	}
}

// One Client reuses its connections: 50 calls, one after another, open one connection.
func TestCallsReuseOneConnection(t *testing.T) {
	var opened int64
	srv := httptest.NewUnstartedServer(&fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		jsonAnswer(w, 200, cifOK)
	}})
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			opened++
		}
	}
	srv.Start()
	defer srv.Close()
	c, _ := offline(t, srv)
	for i := 0; i < 50; i++ {
		if _, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl"); err != nil {
			t.Fatal(err)
		}
	}
	if opened != 1 {
		t.Fatalf("%d connections for 50 calls", opened)
	}
}

// A token source is asked before every attempt: a retry carries the token of its moment.
func TestATokenSourceIsAskedOnEveryAttempt(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			jsonAnswer(w, 503, errorBody(CodeServiceUnavailable, "busy", ""))
			return
		}
		jsonAnswer(w, 200, cifOK)
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	asked := 0
	c, _ := offline(t, srv, WithTokenSource(func(ctx context.Context) (string, error) {
		asked++
		return fmt.Sprintf("token-%d", asked), nil
	}))
	if _, err := c.Cifers.Get(context.Background(), "cif_abcdefghijkl"); err != nil {
		t.Fatal(err)
	}
	seen := f.seen()
	if len(seen) != 2 || seen[0].authorization != "Bearer token-1" || seen[1].authorization != "Bearer token-2" {
		t.Fatalf("%+v", seen)
	}
	failing, _ := offline(t, srv, WithTokenSource(func(ctx context.Context) (string, error) {
		return "", errors.New("token file unreadable")
	}))
	if _, err := failing.Cifers.Get(context.Background(), "cif_abcdefghijkl"); err == nil ||
		!strings.Contains(err.Error(), "token file unreadable") || len(f.seen()) != 2 {
		t.Fatalf("%v", err)
	}
}

// A stream whose server goes quiet ends after the idle timeout: before its headers, as a
// *ConnectionError; in the middle of its body, as a *StreamError. The caller's own pause
// between reads does not count.
func TestAQuietStreamEndsAfterTheIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/encrypt" { // no answer at all
			<-release
			return
		}
		w.WriteHeader(200)
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c, _ := offline(t, srv, WithStreamIdleTimeout(500*time.Millisecond)) // generous: a loaded CI machine is slow to answer
	start := time.Now()
	_, err := c.EncryptStream(context.Background(), "cif_abcdefghijkl", strings.NewReader("x"))
	var ce *ConnectionError
	if !errors.As(err, &ce) || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	rc, err := c.DecryptStream(context.Background(), strings.NewReader("envelope"))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	first := make([]byte, 11)
	if _, err := io.ReadFull(rc, first); err != nil || string(first) != "first bytes" {
		t.Fatal(string(first), err)
	}
	time.Sleep(time.Second) // the caller's own pause: not the server's silence
	start = time.Now()
	_, err = rc.Read(make([]byte, 10))
	var se *StreamError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "no bytes") || time.Since(start) < 400*time.Millisecond ||
		time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

func TestShutdownSidecarIsSentOnceAsThePodWithoutTheClientsKey(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		jsonAnswer(w, 202, `{"success":true,"data":{"stopping":true},"meta":{"request_id":"req_1"}}`)
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := offline(t, srv)
	if err := c.ShutdownSidecar(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := f.seen()
	if len(seen) != 1 || seen[0].method != "POST" || seen[0].path != "/v1/shutdown" || seen[0].authorization != "" {
		t.Fatalf("sent %+v, want one POST /v1/shutdown without Authorization", seen)
	}
}

func TestShutdownSidecarRefusedIsItsTypedErrorAndNotRetried(t *testing.T) {
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		jsonAnswer(w, 403, errorBody("FORBIDDEN", "only the pod's own containers may stop the sidecar", ""))
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := offline(t, srv)
	err := c.ShutdownSidecar(context.Background())
	var forbidden *PermissionDeniedError
	if !errors.As(err, &forbidden) {
		t.Fatalf("got %T %v, want *PermissionDeniedError", err, err)
	}
	if n := len(f.seen()); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}
