package cifer

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The seed's error codes (§9.1), and the SDK's own for failures without a server answer.
const (
	CodeInvalidRequest      = "INVALID_REQUEST"
	CodeInvalidCiferID      = "INVALID_CIFER_ID"
	CodeInvalidCiphertext   = "INVALID_CIPHERTEXT"
	CodeUnauthorized        = "UNAUTHORIZED"
	CodeForbidden           = "FORBIDDEN"
	CodeUnauthorizedDecrypt = "UNAUTHORIZED_DECRYPT"
	CodeNotFound            = "NOT_FOUND"
	CodeCiferRevoked        = "CIFER_REVOKED"
	CodeRateLimitExceeded   = "RATE_LIMIT_EXCEEDED"
	CodeInternalError       = "INTERNAL_ERROR"
	CodeServiceUnavailable  = "SERVICE_UNAVAILABLE"

	CodeConnectionError = "CONNECTION_ERROR" // no HTTP answer at all: refused, reset, timed out
	CodeStreamAborted   = "STREAM_ABORTED"   // a streamed answer cut off before its end
	CodeInvalidResponse = "INVALID_RESPONSE" // an answer that is not the seed's response body
	CodeCircuitOpen     = "CIRCUIT_OPEN"     // the circuit breaker refused the call without sending it
)

// maxErrorBodyBytes bounds what is read of an error answer: a small JSON object.
const maxErrorBodyBytes = 64 << 10

// CiferError is every failure of a CIFER call. Each typed error below embeds it, so its fields
// (Code, RequestID, RetryAfter, ...) are the typed error's, and each unwraps to it:
//
//	var ce *cifer.CiferError
//	if errors.As(err, &ce) { log.Print(ce.Code, ce.RequestID) }
type CiferError struct {
	Code       string                 // the seed's code (§9.1) or one of the SDK's Code* constants
	Message    string                 // the server's message; never contains credentials
	Status     int                    // the HTTP status; 0 when there was no answer
	RequestID  string                 // meta.request_id, else the X-Request-ID response header
	Details    map[string]interface{} // error.details as the server sent it
	RetryAfter time.Duration          // the server's Retry-After (or details.retry_after); 0 if none
	cause      error
}

func (e *CiferError) Error() string {
	var b strings.Builder
	b.WriteString("cifer: ")
	b.WriteString(e.Code)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" [request ")
		b.WriteString(e.RequestID)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap gives the underlying transport error of a ConnectionError or StreamError, if any.
func (e *CiferError) Unwrap() error { return e.cause }

// InvalidRequestError is INVALID_REQUEST (400): a malformed request.
type InvalidRequestError struct{ *CiferError }

// InvalidCiferIDError is INVALID_CIFER_ID (400): not a CIFER id at all.
type InvalidCiferIDError struct{ *CiferError }

// InvalidCiphertextError is INVALID_CIPHERTEXT (400): not a CIFER envelope, or a damaged one.
type InvalidCiphertextError struct{ *CiferError }

// AuthenticationError is UNAUTHORIZED (401): a missing, malformed or unknown credential.
type AuthenticationError struct{ *CiferError }

// PermissionDeniedError is FORBIDDEN (403), and the parent of UnauthorizedDecryptError.
type PermissionDeniedError struct{ *CiferError }

// UnauthorizedDecryptError is UNAUTHORIZED_DECRYPT (403): the caller may not open this
// ciphertext. CiferID names the key it was sealed to.
type UnauthorizedDecryptError struct {
	*CiferError
	CiferID string
}

// NotFoundError is NOT_FOUND (404).
type NotFoundError struct{ *CiferError }

// CiferRevokedError is CIFER_REVOKED (410): the CIFER was revoked, for good.
type CiferRevokedError struct{ *CiferError }

// RateLimitError is RATE_LIMIT_EXCEEDED (429). RetryAfter is how long the server asked to wait.
type RateLimitError struct{ *CiferError }

// InternalError is INTERNAL_ERROR (500).
type InternalError struct{ *CiferError }

// ServiceUnavailableError is SERVICE_UNAVAILABLE (503; also a bare 502 or 504).
type ServiceUnavailableError struct{ *CiferError }

// ConnectionError is CONNECTION_ERROR: no answer (refused, reset, timed out). It unwraps to
// *CiferError, whose Unwrap gives the transport's error.
type ConnectionError struct{ *CiferError }

// StreamError is STREAM_ABORTED: a streamed answer ended before its terminating chunk. The
// server aborts this way when a ciphertext chunk fails authentication mid-stream: discard
// everything read from the stream so far.
type StreamError struct{ *CiferError }

// CircuitOpenError is CIRCUIT_OPEN: the circuit breaker refused to send the call, because
// the server failed too often in a row; RetryAfter is when it lets a trial call through.
type CircuitOpenError struct{ *CiferError }

func (e *InvalidRequestError) Unwrap() error    { return e.CiferError }
func (e *InvalidCiferIDError) Unwrap() error    { return e.CiferError }
func (e *InvalidCiphertextError) Unwrap() error { return e.CiferError }
func (e *AuthenticationError) Unwrap() error    { return e.CiferError }
func (e *PermissionDeniedError) Unwrap() error  { return e.CiferError }
func (e *NotFoundError) Unwrap() error          { return e.CiferError }
func (e *CiferRevokedError) Unwrap() error      { return e.CiferError }
func (e *RateLimitError) Unwrap() error         { return e.CiferError }
func (e *InternalError) Unwrap() error          { return e.CiferError }
func (e *ServiceUnavailableError) Unwrap() error {
	return e.CiferError
}
func (e *ConnectionError) Unwrap() error  { return e.CiferError }
func (e *StreamError) Unwrap() error      { return e.CiferError }
func (e *CircuitOpenError) Unwrap() error { return e.CiferError }

// Unwrap makes an UNAUTHORIZED_DECRYPT a *PermissionDeniedError too, as the seed's 403 is.
func (e *UnauthorizedDecryptError) Unwrap() error {
	return &PermissionDeniedError{e.CiferError}
}

// typed wraps a CiferError in the type of its code; unknown codes stay a plain *CiferError.
func typed(e *CiferError) error {
	switch e.Code {
	case CodeInvalidRequest:
		return &InvalidRequestError{e}
	case CodeInvalidCiferID:
		return &InvalidCiferIDError{e}
	case CodeInvalidCiphertext:
		return &InvalidCiphertextError{e}
	case CodeUnauthorized:
		return &AuthenticationError{e}
	case CodeForbidden:
		return &PermissionDeniedError{e}
	case CodeUnauthorizedDecrypt:
		id, _ := e.Details["cifer_id"].(string)
		return &UnauthorizedDecryptError{CiferError: e, CiferID: id}
	case CodeNotFound:
		return &NotFoundError{e}
	case CodeCiferRevoked:
		return &CiferRevokedError{e}
	case CodeRateLimitExceeded:
		return &RateLimitError{e}
	case CodeInternalError:
		return &InternalError{e}
	case CodeServiceUnavailable:
		return &ServiceUnavailableError{e}
	case CodeConnectionError:
		return &ConnectionError{e}
	case CodeStreamAborted:
		return &StreamError{e}
	case CodeCircuitOpen:
		return &CircuitOpenError{e}
	}
	return e
}

// codeByStatus names an answer whose body is not the seed's error body (a load balancer's page).
var codeByStatus = map[int]string{
	400: CodeInvalidRequest, 401: CodeUnauthorized, 403: CodeForbidden, 404: CodeNotFound,
	410: CodeCiferRevoked, 429: CodeRateLimitExceeded, 500: CodeInternalError,
	502: CodeServiceUnavailable, 503: CodeServiceUnavailable, 504: CodeServiceUnavailable,
}

// errorFromResponse is the typed error of a non-2xx answer: by error.code when the body is the
// seed's error body (§9.2), else by the status alone.
func errorFromResponse(status int, header http.Header, body []byte, now time.Time) error {
	e := &CiferError{Status: status, RequestID: header.Get("X-Request-ID")}
	var parsed struct {
		Error *struct {
			Code    string                 `json:"code"`
			Message string                 `json:"message"`
			Details map[string]interface{} `json:"details"`
		} `json:"error"`
		Meta *struct {
			RequestID string `json:"request_id"`
		} `json:"meta"`
	}
	if json.Unmarshal(body, &parsed) == nil {
		if parsed.Error != nil && parsed.Error.Code != "" {
			e.Code, e.Message, e.Details = parsed.Error.Code, parsed.Error.Message, parsed.Error.Details
		}
		if parsed.Meta != nil && parsed.Meta.RequestID != "" {
			e.RequestID = parsed.Meta.RequestID
		}
	}
	if e.Code == "" {
		e.Code = codeByStatus[status]
		if e.Code == "" {
			e.Code = "HTTP_" + strconv.Itoa(status)
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if d, ok := parseRetryAfter(header.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	} else if s, ok := e.Details["retry_after"].(float64); ok && s > 0 && s < math.MaxInt32 {
		e.RetryAfter = time.Duration(s * float64(time.Second))
	}
	return typed(e)
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(value, 64); err == nil {
		if s != s || s < 0 || s > math.MaxInt32 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	when, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	if d := when.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

func invalidResponse(format string, args ...interface{}) error {
	return &CiferError{Code: CodeInvalidResponse, Message: "the server's answer is malformed: " + fmt.Sprintf(format, args...)}
}
