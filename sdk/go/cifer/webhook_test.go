package cifer

import (
	"os"
	"strings"
	"testing"
	"time"
)

// Vectors computed with seed §7.3's Python (hmac.new(secret.encode(), body, sha256)); the
// pytest wrapper also checks headers made by the key service's own signer (tests/sdk_go).
const (
	hookSecret = "whsec_test_secret_0123456789"
	hookBody   = `{"id":"evt_abc123","type":"cifer.created","created":"2026-01-08T10:30:00Z","data":{"cifer_id":"cif_abc123def456"}}`
	hookV1     = "sha256=47222eea9def6bc1d1f3667e4ab5bab3552ab9101f8be48c5febf37b4675ba79"
	hookT      = 1767868200
	hookV2     = "t=1767868200,v1=9aa496e28abb26ff9f29e7d3079457d36dca4a818dce048fc1389fe380290ca3"
)

var hookNow = time.Unix(hookT+60, 0)

func TestTheSeedsSignatureVerifies(t *testing.T) {
	if !VerifyWebhookSignature([]byte(hookBody), hookV1, hookSecret) {
		t.Fatal("the seed's sha256= signature was refused")
	}
}

func TestTheTimestampedSignatureVerifiesWithinTheTolerance(t *testing.T) {
	if !VerifyWebhookSignatureAt([]byte(hookBody), hookV2, hookSecret, DefaultWebhookTolerance, hookNow) {
		t.Fatal("refused")
	}
	// a second v1 (a secret being changed) does not hurt
	two := "t=1767868200,v1=" + strings.Repeat("0", 64) + ",v1=9aa496e28abb26ff9f29e7d3079457d36dca4a818dce048fc1389fe380290ca3"
	if !VerifyWebhookSignatureAt([]byte(hookBody), two, hookSecret, DefaultWebhookTolerance, hookNow) {
		t.Fatal("refused with two v1 entries")
	}
	// too old, or from the future
	if VerifyWebhookSignatureAt([]byte(hookBody), hookV2, hookSecret, DefaultWebhookTolerance, time.Unix(hookT+301, 0)) ||
		VerifyWebhookSignatureAt([]byte(hookBody), hookV2, hookSecret, DefaultWebhookTolerance, time.Unix(hookT-301, 0)) {
		t.Fatal("a timestamp out of tolerance was accepted")
	}
	// VerifyWebhookSignature uses the real clock: the 2026-01-08 vector is long expired
	if VerifyWebhookSignature([]byte(hookBody), hookV2, hookSecret) {
		t.Fatal("an expired timestamp was accepted")
	}
}

func TestAnyChangeIsRefused(t *testing.T) {
	body := []byte(hookBody)
	for i := range body {
		tampered := append([]byte(nil), body...)
		tampered[i] ^= 0x01
		if VerifyWebhookSignature(tampered, hookV1, hookSecret) ||
			VerifyWebhookSignatureAt(tampered, hookV2, hookSecret, DefaultWebhookTolerance, hookNow) {
			t.Fatalf("byte %d flipped, still valid", i)
		}
	}
	bad := []string{
		"", "sha256=", "sha256=" + strings.ToUpper(hookV1[7:]), hookV1 + "0", "sha1=" + hookV1[7:],
		"t=1767868201,v1=9aa496e28abb26ff9f29e7d3079457d36dca4a818dce048fc1389fe380290ca3",
		"v1=9aa496e28abb26ff9f29e7d3079457d36dca4a818dce048fc1389fe380290ca3",
		"t=1767868200", "t=1767868200,t=1767868200,v1=9aa496e28abb26ff9f29e7d3079457d36dca4a818dce048fc1389fe380290ca3",
		"t=-1767868200,v1=9aa496e28abb26ff9f29e7d3079457d36dca4a818dce048fc1389fe380290ca3",
		"t=1767868200;v1=9aa496e28abb26ff9f29e7d3079457d36dca4a818dce048fc1389fe380290ca3",
		strings.Repeat("v1=a,", 2000),
	}
	for _, h := range bad {
		if VerifyWebhookSignatureAt([]byte(hookBody), h, hookSecret, DefaultWebhookTolerance, hookNow) {
			t.Fatalf("%q accepted", h)
		}
	}
	if VerifyWebhookSignature([]byte(hookBody), hookV1, "another-secret-0123") ||
		VerifyWebhookSignature([]byte(hookBody), hookV1, "") {
		t.Fatal("a wrong secret was accepted")
	}
}

// The comparisons are constant-time: the source uses hmac.Equal and no == on MACs.
func TestComparisonsAreConstantTime(t *testing.T) {
	src, err := os.ReadFile("webhook.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "hmac.Equal(") || strings.Contains(string(src), "bytes.Equal") ||
		strings.Contains(string(src), "== given") {
		t.Fatal("webhook.go compares MACs without hmac.Equal")
	}
}
