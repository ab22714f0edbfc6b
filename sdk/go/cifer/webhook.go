package cifer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook delivery (seed §7.3, and CIFER's timestamped scheme).
const (
	SignatureHeader   = "X-Cifer-Signature"    // sha256=<hex HMAC-SHA256(secret, body)>
	SignatureV2Header = "X-Cifer-Signature-V2" // t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." || body)>
	EventIDHeader     = "X-Cifer-Event-Id"     // the same on every retry of one event: deduplicate on it
)

// DefaultWebhookTolerance is how far a timestamped signature's time may be from now.
const DefaultWebhookTolerance = 300 * time.Second

// maxSignatureHeaderBytes bounds the header parsed: a few v1= entries are all it ever holds.
const maxSignatureHeaderBytes = 4096

// VerifyWebhookSignature reports whether signatureHeader signs payload (the raw body bytes,
// before any parsing) under secret, the string given when the webhook was registered.
//
// It takes either header's value. `sha256=<hex>` (X-Cifer-Signature) is checked as seed §7.3
// does; it covers the body only, so a captured delivery can be replayed. `t=<unix>,v1=<hex>`
// (X-Cifer-Signature-V2) signs the timestamp too, which must be within
// DefaultWebhookTolerance of now: prefer it, and deduplicate on X-Cifer-Event-Id. Several v1
// entries are accepted (one per secret while a secret is changed). Comparisons are
// constant-time; anything malformed is false.
func VerifyWebhookSignature(payload []byte, signatureHeader, secret string) bool {
	return VerifyWebhookSignatureAt(payload, signatureHeader, secret, DefaultWebhookTolerance, time.Now())
}

// VerifyWebhookSignatureAt is VerifyWebhookSignature with its tolerance and clock given.
func VerifyWebhookSignatureAt(payload []byte, signatureHeader, secret string, tolerance time.Duration, now time.Time) bool {
	if secret == "" || len(signatureHeader) > maxSignatureHeaderBytes {
		return false
	}
	header := strings.TrimSpace(signatureHeader)
	if strings.HasPrefix(header, "sha256=") {
		return equalHex(sign(secret, nil, payload), header[len("sha256="):])
	}
	var timestamp int64 = -1
	var candidates []string
	for _, part := range strings.Split(header, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return false
		}
		switch name {
		case "t":
			if timestamp >= 0 || value == "" || len(value) > 12 || strings.Trim(value, "0123456789") != "" {
				return false
			}
			timestamp, _ = strconv.ParseInt(value, 10, 64)
		case "v1":
			candidates = append(candidates, value)
		}
	}
	if timestamp < 0 || len(candidates) == 0 {
		return false
	}
	age := now.Sub(time.Unix(timestamp, 0))
	if age > tolerance || -age > tolerance {
		return false
	}
	expected := sign(secret, []byte(strconv.FormatInt(timestamp, 10)+"."), payload)
	valid := false
	for _, candidate := range candidates {
		if equalHex(expected, candidate) { // no early exit: every candidate is compared
			valid = true
		}
	}
	return valid
}

func sign(secret string, prefix, payload []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(prefix)
	mac.Write(payload)
	return mac.Sum(nil)
}

// equalHex compares a MAC with a lower-case hex text in constant time (for a given length).
func equalHex(mac []byte, given string) bool {
	want := make([]byte, hex.EncodedLen(len(mac)))
	hex.Encode(want, mac)
	return hmac.Equal(want, []byte(given))
}
