package cifer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Ciphertext is what Decrypt opens: an *EncryptResult, or an envelope's bytes as Envelope.
type Ciphertext interface {
	envelope() []byte
}

// Envelope is a CIFER envelope's raw bytes (an EncryptResult's Ciphertext, as stored).
type Envelope []byte

func (e Envelope) envelope() []byte { return e }

func (r *EncryptResult) envelope() []byte {
	if r == nil {
		return nil
	}
	return r.Ciphertext
}

// EncryptOption adds to an encryption.
type EncryptOption func(*encryptOptions)

type encryptOptions struct {
	metadata map[string]string
}

// WithMetadata seals metadata with the envelope (seed §4.3): Decrypt gives it back.
func WithMetadata(m map[string]string) EncryptOption {
	return func(o *encryptOptions) { o.metadata = m }
}

// Encrypt seals plaintext to the CIFER's public key (seed §4.3, JSON form). It is for data
// that fits in memory; EncryptStream is for files and other large data.
func (c *Client) Encrypt(ctx context.Context, ciferID string, plaintext []byte, opts ...EncryptOption) (*EncryptResult, error) {
	var o encryptOptions
	for _, opt := range opts {
		opt(&o)
	}
	body := map[string]interface{}{
		"cifer_id": ciferID, "plaintext": base64.StdEncoding.EncodeToString(plaintext), "encoding": "base64",
	}
	if o.metadata != nil {
		body["metadata"] = o.metadata
	}
	out := &EncryptResult{}
	if err := c.do(ctx, call{ep: epEncrypt, body: body}, out); err != nil {
		return nil, err
	}
	if out.Encoding != "" && out.Encoding != "base64" || len(out.Ciphertext) == 0 {
		return nil, invalidResponse("the ciphertext is missing or not base64")
	}
	if out.EnvelopeSize == 0 {
		out.EnvelopeSize = len(out.Ciphertext)
	}
	return out, nil
}

// Decrypt opens an envelope (seed §4.4): an *EncryptResult, or Envelope(bytes).
func (c *Client) Decrypt(ctx context.Context, ciphertext Ciphertext) (*DecryptResult, error) {
	if ciphertext == nil || len(ciphertext.envelope()) == 0 {
		return nil, &InvalidCiphertextError{&CiferError{Code: CodeInvalidCiphertext, Message: "the ciphertext is empty"}}
	}
	body := map[string]string{
		"ciphertext": base64.StdEncoding.EncodeToString(ciphertext.envelope()), "encoding": "base64",
	}
	out := &DecryptResult{}
	if err := c.do(ctx, call{ep: epDecrypt, body: body}, out); err != nil {
		return nil, err
	}
	if out.Encoding != "" && out.Encoding != "base64" {
		return nil, invalidResponse("the plaintext is not base64")
	}
	return out, nil
}

// Stream is what EncryptStream and DecryptStream return (as an io.ReadCloser): the answer's
// body as it arrives, and what its headers said. Read it to its end (io.EOF) and Close it.
//
// A stream that ends any other way than properly gives a *StreamError from Read: the server
// aborts the connection that way when a ciphertext chunk fails authentication mid-stream, so
// everything read before must be thrown away. An error of the source reader is given as it is.
type Stream struct {
	CiferID    string            // X-Cifer-Id: the CIFER it was sealed to (or opened with)
	KeyVersion int               // X-Cifer-Key-Version
	Algorithm  string            // X-Cifer-Algorithm (EncryptStream): the suite
	Metadata   map[string]string // X-Cifer-Metadata (DecryptStream): sealed with the envelope
	RequestID  string            // X-Request-ID

	ctx      context.Context
	body     io.ReadCloser
	source   *countingReader
	watchdog *watchdog
	done     bool
}

func (s *Stream) Read(p []byte) (int, error) {
	if s.done {
		return 0, io.EOF
	}
	s.watchdog.start()
	n, err := s.body.Read(p)
	s.watchdog.pause()
	if err == nil || err == io.EOF {
		s.done = err == io.EOF
		return n, err
	}
	if serr := s.source.failure(); serr != nil { // our source failed first; the server merely gave up
		return n, serr
	}
	if s.ctx.Err() != nil {
		return n, s.ctx.Err()
	}
	if s.watchdog.timedOut() {
		return n, &StreamError{&CiferError{Code: CodeStreamAborted, RequestID: s.RequestID, cause: err,
			Message: fmt.Sprintf("no bytes from the server for %v; discard the output", s.watchdog.idle)}}
	}
	return n, &StreamError{&CiferError{Code: CodeStreamAborted, RequestID: s.RequestID, cause: err,
		Message: "the stream was cut off before its end (a chunk failed authentication, or the connection broke); discard the output"}}
}

// Close releases the connection; a stream not read to its end closes it, stopping the upload.
func (s *Stream) Close() error {
	err := s.body.Close()
	s.watchdog.stop()
	return err
}

// EncryptStream sends source up as the binary body of POST /v1/encrypt and returns the envelope
// as it comes back, while source is still being read: memory stays bounded whatever the size.
// The returned io.ReadCloser is a *Stream.
func (c *Client) EncryptStream(ctx context.Context, ciferID string, source io.Reader, opts ...EncryptOption) (io.ReadCloser, error) {
	var o encryptOptions
	for _, opt := range opts {
		opt(&o)
	}
	if ciferID == "" || !isVisibleASCII(ciferID) {
		return nil, &InvalidCiferIDError{&CiferError{Code: CodeInvalidCiferID, Message: "the cifer id must be visible ASCII"}}
	}
	header := http.Header{"X-Cifer-Id": {ciferID}}
	if o.metadata != nil {
		m, err := json.Marshal(o.metadata) // ASCII: Go escapes nothing wider, so encode by hand below
		if err != nil {
			return nil, err
		}
		header.Set("X-Cifer-Metadata", asciiJSON(m))
	}
	s, err := c.openStream(ctx, epEncrypt, header, source)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// DecryptStream sends an envelope up as the binary body of POST /v1/decrypt and returns the
// plaintext as it comes back. The returned io.ReadCloser is a *Stream; see Stream for how a
// ciphertext that fails authentication part-way is reported.
func (c *Client) DecryptStream(ctx context.Context, source io.Reader) (io.ReadCloser, error) {
	s, err := c.openStream(ctx, epDecrypt, http.Header{}, source)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openStream POSTs a binary body and returns once the answer's headers are in; the body goes on
// uploading while the caller reads. It is retried only while nothing was taken from source.
func (c *Client) openStream(ctx context.Context, ep endpoint, extra http.Header, source io.Reader) (s *Stream, err error) {
	if ctx == nil {
		return nil, errors.New("cifer: nil context")
	}
	if source == nil {
		return nil, errors.New("cifer: nil source")
	}
	header, err := c.headers(call{ep: ep, header: extra})
	if err != nil {
		return nil, err
	}
	header.Set("Content-Type", "application/octet-stream")
	target, _ := ep.url(c.baseURL, nil)
	ctx, span, requestID := c.startSpan(ctx, ep)
	defer func() { span.End(err) }()
	counted := &countingReader{r: source}
	sctx, wd := newWatchdog(ctx, c.cfg.streamIdle)
	for attempt := 0; ; attempt++ {
		var resp *http.Response
		wd.start()
		resp, err = c.send(sctx, ep, attempt, requestID, target, header, counted)
		wd.pause()
		if err == nil {
			if s, err = newStream(ctx, resp, counted, wd); err != nil {
				wd.stop()
			}
			return s, err
		}
		if wd.timedOut() {
			wd.stop()
			return nil, typed(&CiferError{Code: CodeConnectionError, cause: err,
				Message: fmt.Sprintf("no answer from the CIFER API at %s for %v", displayURL(c.baseURL), c.cfg.streamIdle)})
		}
		if serr := counted.failure(); serr != nil {
			wd.stop()
			return nil, serr
		}
		if counted.taken() > 0 {
			wd.stop()
			return nil, err
		}
		if err = c.waitBeforeRetry(ctx, attempt, err); err != nil {
			wd.stop()
			return nil, err
		}
	}
}

// watchdog ends a stream whose server sends nothing for `idle` (the answer's headers, or the
// next bytes of its body): it cancels the stream's context. It runs only while the SDK waits
// for the server, not while the caller takes its time between reads.
type watchdog struct {
	idle   time.Duration // 0: never
	cancel context.CancelFunc
	timer  *time.Timer
	fired  int32
}

func newWatchdog(ctx context.Context, idle time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{idle: idle, cancel: cancel}
	if idle > 0 {
		w.timer = time.AfterFunc(idle, func() {
			atomic.StoreInt32(&w.fired, 1)
			cancel()
		})
		w.timer.Stop()
	}
	return ctx, w
}

func (w *watchdog) start() {
	if w.timer != nil {
		w.timer.Reset(w.idle)
	}
}

func (w *watchdog) pause() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *watchdog) timedOut() bool { return atomic.LoadInt32(&w.fired) == 1 }

func (w *watchdog) stop() {
	w.pause()
	w.cancel()
}

func newStream(ctx context.Context, resp *http.Response, source *countingReader, wd *watchdog) (*Stream, error) {
	s := &Stream{ctx: ctx, body: resp.Body, source: source, watchdog: wd, CiferID: resp.Header.Get("X-Cifer-Id"),
		Algorithm: resp.Header.Get("X-Cifer-Algorithm"), RequestID: resp.Header.Get("X-Request-ID")}
	chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	if !chunked && resp.ContentLength < 0 {
		resp.Body.Close()
		return nil, invalidResponse("the answer is neither chunked nor sized, so a cut-off could not be told")
	}
	if v := resp.Header.Get("X-Cifer-Key-Version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			resp.Body.Close()
			return nil, invalidResponse("X-Cifer-Key-Version is not a number")
		}
		s.KeyVersion = n
	}
	if m := resp.Header.Get("X-Cifer-Metadata"); m != "" {
		if err := json.Unmarshal([]byte(m), &s.Metadata); err != nil {
			resp.Body.Close()
			return nil, invalidResponse("X-Cifer-Metadata is not a JSON object of strings")
		}
	}
	return s, nil
}

// countingReader is a stream's source: it counts what was taken (a retry must not send a
// body half read) and remembers the source's own failure (so it is not blamed on the server).
type countingReader struct {
	r   io.Reader
	mu  sync.Mutex
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	return n, err
}

func (c *countingReader) taken() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingReader) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// asciiJSON escapes every non-ASCII character of a JSON text as \uXXXX, so it fits a header.
func asciiJSON(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, len(b))
	for _, r := range string(b) {
		if r < 0x80 {
			out = append(out, byte(r))
			continue
		}
		var units []rune
		if r > 0xffff {
			r -= 0x10000
			units = []rune{0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff}
		} else {
			units = []rune{r}
		}
		for _, u := range units {
			out = append(out, '\\', 'u', hexdigits[u>>12&0xf], hexdigits[u>>8&0xf], hexdigits[u>>4&0xf], hexdigits[u&0xf])
		}
	}
	return string(out)
}

// ShutdownSidecar stops this pod's sidecar (POST /v1/shutdown), as a Job's application does once
// it is done, so that the pod completes (docs/injection.md). It is sent as the pod, without the
// client's credential, and once: the sidecar is gone after, so a retry could only fail. Anywhere
// but from the pod's own containers it is refused: a 403, returned as its typed error.
func (c *Client) ShutdownSidecar(ctx context.Context) error {
	if ctx == nil {
		return errors.New("cifer: nil context")
	}
	target, err := epShutdown.url(c.baseURL, nil)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, epShutdown.method, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	req.Header.Set(requestIDHeader, newRequestID())
	resp, err := c.hc.Do(req)
	if err != nil {
		return connectionError(c.baseURL, err)
	}
	defer resp.Body.Close()
	data, err := readCapped(resp.Body, c.cfg.maxResponse)
	if err != nil {
		return connectionError(c.baseURL, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return unwrap(data, nil)
	}
	return errorFromResponse(resp.StatusCode, resp.Header, data, c.cfg.now())
}
