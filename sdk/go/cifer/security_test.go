package cifer

// Offline tests of the /api/security/* calls: the Go types marshal as the seed's examples, and
// each call's method, path, query, body and idempotency key, against an httptest server.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The seed's example requests, verbatim (001, "Key Management API", "Data Encryption API").
const seedGenerateJSON = `{
  "userId": "user_2a3b4c5d",
  "keyType": "health-data",
  "algorithm": "AES-256-GCM",
  "keyUsage": "both",
  "expirationDays": 90,
  "metadata": {
    "purpose": "Encrypt user health metrics and medical information",
    "dataClassification": "restricted",
    "regulatoryRequirement": "HIPAA Security Rule"
  }
}`

const seedEncryptJSON = `{
  "data": {
    "heartRate": 72,
    "bloodPressure": "120/80",
    "medications": ["Lisinopril 10mg", "Metformin 500mg"]
  },
  "dataType": "health",
  "userId": "user_2a3b4c5d",
  "context": {
    "purpose": "Health monitoring and AI recommendations",
    "retention": "7 years",
    "classification": "restricted"
  },
  "compression": true,
  "additionalAuthenticatedData": "workout_session_12345"
}`

const seedGenerateResponseJSON = `{
  "keyId": "key_health_user_2a3b4c5d_20250115",
  "keyVersion": "1",
  "algorithm": "AES-256-GCM",
  "keyUsage": "both",
  "createdAt": "2025-01-15T10:30:00Z",
  "expiresAt": "2025-04-15T10:30:00Z",
  "status": "active",
  "kmsProvider": "aws-kms",
  "keyArn": "arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012",
  "compliance": {
    "fipsValidated": true,
    "nistCompliant": true,
    "regulations": ["HIPAA", "GDPR"]
  }
}`

func sameJSON(t *testing.T, got interface{}, want string) {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var g, w interface{}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("marshalled as\n%s\nnot as the seed's\n%s", b, want)
	}
}

// The Go types are the seed's interfaces: its example requests marshal from them exactly, and its
// example response reads into them.
func TestSecurityTypesAreTheSeedsExamples(t *testing.T) {
	sameJSON(t, seedGenerateExample(), seedGenerateJSON)
	sameJSON(t, seedEncryptExample(), seedEncryptJSON)
	var key SecurityKey
	if err := json.Unmarshal([]byte(seedGenerateResponseJSON), &key); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC)
	if key.KeyID != "key_health_user_2a3b4c5d_20250115" || key.KeyVersion != "1" || !key.CreatedAt.Equal(created) ||
		key.ExpiresAt == nil || !key.ExpiresAt.Equal(created.AddDate(0, 0, 90)) || key.KMSProvider != "aws-kms" ||
		!strings.HasPrefix(key.KeyArn, "arn:aws:kms:") ||
		!reflect.DeepEqual(key.Compliance, KeyCompliance{true, true, []string{"HIPAA", "GDPR"}}) {
		t.Fatalf("%+v", key)
	}
	// A revocation's body carries all four fields, emergencyRevocation even when false.
	sameJSON(t, &RevokeKeyRequest{Reason: "user_deletion", DataAction: "delete", ConfirmationCode: "cif_x:2"},
		`{"reason":"user_deletion","emergencyRevocation":false,"dataAction":"delete","confirmationCode":"cif_x:2"}`)
	// A grace period of 0 days is sent; nil is the server's default.
	sameJSON(t, &RotateKeyRequest{GracePeriodDays: Int(0)}, `{"gracePeriodDays":0}`)
	sameJSON(t, &RotateKeyRequest{}, `{}`)
	// An operation is an encryption request plus its id, flat.
	sameJSON(t, &EncryptOperation{OperationID: "op-1", EncryptDataRequest: EncryptDataRequest{Data: "x", DataType: "health",
		UserID: "u", IdempotencyKey: "ignored"}}, `{"operationId":"op-1","data":"x","dataType":"health","userId":"u"}`)
}

// Each call's method, path and query; POSTs carry an idempotency key (the caller's when given),
// GET and DELETE none; a revocation is a DELETE with its JSON body; a queued batch (202) reads.
func TestSecurityCallsAsTheEndpointTableSays(t *testing.T) {
	var targets []string // as sent: the path escaped, and the query
	f := &fake{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		targets = append(targets, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		switch {
		case r.URL.Path == "/api/security/encrypt/batch":
			jsonAnswer(w, 202, `{"success":true,"data":{"batchId":"b1","status":"queued","operations":[`+
				`{"operationId":"op-1","status":"pending"}],"summary":{"total":1,"successful":0,"failed":0,`+
				`"estimatedCompletion":"2026-01-08T10:30:01Z"}}}`)
		case r.URL.Path == "/api/security/keys" && r.Method == "GET":
			jsonAnswer(w, 200, `{"success":true,"data":{"keys":[`+seedGenerateResponseJSON+`]}}`)
		case r.URL.Path == "/api/security/decrypt":
			jsonAnswer(w, 200, `{"success":true,"data":{"data":{"a":1},"decryptionMetadata":{"keyUsed":"cif_x",`+
				`"dataIntegrityVerified":false,"decompressionApplied":false,"failedFields":[{"field":"/b","error":`+
				`{"code":"INVALID_CIPHERTEXT","message":"this envelope belongs to another field"}}]},"accessLogged":true,`+
				`"compliance":{"auditRecordId":"7","dataAccess":{"purpose":"p","authorized":true,"consentVerified":false}}}}`)
		default:
			jsonAnswer(w, 200, `{"success":true,"data":{}}`)
		}
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := offline(t, srv)
	ctx := context.Background()
	if _, err := c.Security.GenerateKey(ctx, &GenerateKeyRequest{UserID: "u", IdempotencyKey: "gen-1"}); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Security.FindKeys(ctx, "user a&b", "health-data")
	if err != nil || len(keys) != 1 || keys[0].KeyID != "key_health_user_2a3b4c5d_20250115" {
		t.Fatal(keys, err)
	}
	c.Security.GetKey(ctx, "cif_a/../b")
	c.Security.RotateKey(ctx, "cif_a", nil)
	c.Security.RevokeKey(ctx, "cif_a", &RevokeKeyRequest{Reason: "compromise", DataAction: "delete", ConfirmationCode: "cif_a:1"})
	c.Security.Encrypt(ctx, &EncryptDataRequest{Data: "x", DataType: "health", UserID: "u"})
	opened, err := c.Security.Decrypt(ctx, &DecryptDataRequest{UserID: "u", AccessPurpose: "p"})
	if err != nil || string(opened.Data) != `{"a":1}` || len(opened.DecryptionMetadata.FailedFields) != 1 ||
		!errors.As(opened.DecryptionMetadata.FailedFields[0].Error.Err(), new(*InvalidCiphertextError)) {
		t.Fatal(opened, err)
	}
	batch, err := c.Security.EncryptBatch(ctx, &BatchEncryptRequest{Operations: []EncryptOperation{{OperationID: "op-1"}}})
	if err != nil || batch.Status != "queued" || batch.Operations[0].Status != "pending" || batch.Operations[0].Error.Err() != nil ||
		batch.Summary.EstimatedCompletion == nil || batch.Summary.Total != 1 {
		t.Fatal(batch, err)
	}
	seen := f.seen()
	want := []struct{ method, target string }{
		{"POST", "/api/security/keys/generate?"},
		{"GET", "/api/security/keys?keyType=health-data&userId=user+a%26b"},
		{"GET", "/api/security/keys/cif_a%2F..%2Fb?"}, // one path segment, whatever the id holds
		{"POST", "/api/security/keys/cif_a/rotate?"},
		{"DELETE", "/api/security/keys/cif_a?"},
		{"POST", "/api/security/encrypt?"},
		{"POST", "/api/security/decrypt?"},
		{"POST", "/api/security/encrypt/batch?"},
	}
	if len(seen) != len(want) {
		t.Fatalf("%d requests: %+v", len(seen), seen)
	}
	for i, w := range want {
		s := seen[i]
		if s.method != w.method || targets[i] != w.target || (s.method == "POST") != (s.idempotencyKey != "") {
			t.Fatalf("request %d: %+v %q, want %+v", i, s, targets[i], w)
		}
	}
	if seen[0].idempotencyKey != "gen-1" || seen[3].body != `{}` ||
		seen[4].body != `{"reason":"compromise","emergencyRevocation":false,"dataAction":"delete","confirmationCode":"cif_a:1"}` {
		t.Fatalf("%+v", seen)
	}
	// Nothing is sent without its request, or with an empty key id.
	for name, call := range map[string]func() error{
		"GenerateKey":  func() error { _, err := c.Security.GenerateKey(ctx, nil); return err },
		"RevokeKey":    func() error { _, err := c.Security.RevokeKey(ctx, "cif_a", nil); return err },
		"Encrypt":      func() error { _, err := c.Security.Encrypt(ctx, nil); return err },
		"Decrypt":      func() error { _, err := c.Security.Decrypt(ctx, nil); return err },
		"EncryptBatch": func() error { _, err := c.Security.EncryptBatch(ctx, nil); return err },
		"GetKey":       func() error { _, err := c.Security.GetKey(ctx, ""); return err },
	} {
		if err := call(); err == nil {
			t.Fatalf("%s went through", name)
		}
	}
	if n := len(f.seen()); n != len(want) {
		t.Fatalf("%d requests", n)
	}
}
