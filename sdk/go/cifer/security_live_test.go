package cifer

// Seed 001's /api/security/* calls against a running `cifer dev`, as live_test.go's (the same
// CIFER_PROXY_URL and CIFER_API_KEY; failing under CI=true without them). The key service allows
// 10 creates an hour and a generated key is a create (a refused one too): these tests generate
// 3 keys (the seed's example, shared; the AES-256-CBC refusal; the key they rotate and revoke),
// which with live_test.go's 7 makes the 10.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const seedUser = "user_2a3b4c5d"

// seedGenerateExample is the seed's example GenerateKeyRequest.
func seedGenerateExample() *GenerateKeyRequest {
	return &GenerateKeyRequest{
		UserID:         "user_2a3b4c5d",
		KeyType:        "health-data",
		Algorithm:      "AES-256-GCM",
		KeyUsage:       "both",
		ExpirationDays: 90,
		Metadata: &KeyMetadata{
			Purpose:               "Encrypt user health metrics and medical information",
			DataClassification:    "restricted",
			RegulatoryRequirement: "HIPAA Security Rule",
		},
	}
}

// seedHealthData is the seed's example health object.
func seedHealthData() map[string]interface{} {
	return map[string]interface{}{
		"heartRate":     72,
		"bloodPressure": "120/80",
		"medications":   []string{"Lisinopril 10mg", "Metformin 500mg"},
	}
}

// seedEncryptExample is the seed's example EncryptDataRequest.
func seedEncryptExample() *EncryptDataRequest {
	return &EncryptDataRequest{
		Data:     seedHealthData(),
		DataType: "health",
		UserID:   "user_2a3b4c5d",
		Context: &EncryptionContext{
			Purpose:        "Health monitoring and AI recommendations",
			Retention:      "7 years",
			Classification: "restricted",
		},
		Compression:                 true,
		AdditionalAuthenticatedData: "workout_session_12345",
	}
}

// healthRecord is the seed's health object as a Go struct: what a caller decodes Data into.
type healthRecord struct {
	HeartRate     int      `json:"heartRate"`
	BloodPressure string   `json:"bloodPressure"`
	Medications   []string `json:"medications"`
}

// asJSON is v as encoding/json reads it back into interface{} (numbers as float64): what a
// decrypted object is compared with.
func asJSON(t *testing.T, v interface{}) interface{} {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The seed's example key, generated once under one idempotency key for the tests that seal to it.
var healthKey struct {
	once sync.Once
	idem string
	key  *SecurityKey
	err  error
}

func sharedHealthKey(t *testing.T, c *Client) *SecurityKey {
	t.Helper()
	healthKey.once.Do(func() {
		p := seedGenerateExample()
		p.IdempotencyKey = NewIdempotencyKey()
		healthKey.idem = p.IdempotencyKey
		healthKey.key, healthKey.err = c.Security.GenerateKey(context.Background(), p)
	})
	if healthKey.err != nil {
		t.Fatal(healthKey.err)
	}
	return healthKey.key
}

func careTeamRead(sealed EncryptedData, aad string) *DecryptDataRequest {
	return &DecryptDataRequest{EncryptedData: sealed, UserID: seedUser, AccessPurpose: "care team review",
		AdditionalAuthenticatedData: aad}
}

// The seed's GenerateKeyRequest example makes a real key, read back by FindKeys and GetKey; the
// same request under the same idempotency key makes no second one.
func TestLiveSecurityGenerateKeyFromTheSeedExample(t *testing.T) {
	c := live(t)
	ctx := context.Background()
	key := sharedHealthKey(t, c)
	if !strings.HasPrefix(key.KeyID, "cif_") || key.KeyVersion != "1" || key.Algorithm != "AES-256-GCM" ||
		key.KeyUsage != "both" || key.Status != "active" || key.UserID != seedUser || key.KeyType != "health-data" ||
		key.CreatedAt.IsZero() || key.ExpiresAt == nil || key.ExpiresAt.Sub(key.CreatedAt) != 90*24*time.Hour || len(key.Raw) == 0 {
		t.Fatalf("%+v", key)
	}
	// cifer dev's KEK is a key file; no KEK here is a FIPS-validated module; HIPAA from the requirement.
	if key.KMSProvider != "file" || !strings.HasPrefix(key.KeyArn, "file:") ||
		!reflect.DeepEqual(key.Compliance, KeyCompliance{FIPSValidated: false, NISTCompliant: true, Regulations: []string{"HIPAA"}}) ||
		key.Metadata != *seedGenerateExample().Metadata {
		t.Fatalf("%+v", key)
	}
	again := seedGenerateExample()
	again.IdempotencyKey = healthKey.idem
	replayed, err := c.Security.GenerateKey(ctx, again)
	if err != nil || replayed.KeyID != key.KeyID {
		t.Fatal(replayed, err)
	}
	found, err := c.Security.FindKeys(ctx, seedUser, "health-data")
	if err != nil || len(found) != 1 || found[0].KeyID != key.KeyID || found[0].Status != "active" {
		t.Fatal(found, err)
	}
	got, err := c.Security.GetKey(ctx, key.KeyID)
	if err != nil || got.KeyID != key.KeyID || got.KeyVersion != "1" || got.ConfirmationCode() != key.KeyID+":1" {
		t.Fatal(got, err)
	}
	if others, err := c.Security.FindKeys(ctx, seedUser, "financial-data"); err != nil || len(others) != 0 {
		t.Fatal(others, err)
	}
}

// The seed's EncryptDataRequest example (the health object, compressed, with AAD) comes back
// equal through Decrypt; the answer's informative fields are the envelope's.
func TestLiveSecurityTheSeedsEncryptExampleRoundTripsThroughDecrypt(t *testing.T) {
	c := live(t)
	ctx := context.Background()
	key := sharedHealthKey(t, c)
	sealed, err := c.Security.Encrypt(ctx, seedEncryptExample())
	if err != nil {
		t.Fatal(err)
	}
	data := sealed.EncryptedData
	var value string
	if err := json.Unmarshal(data.Value, &value); err != nil {
		t.Fatalf("value is not a string: %s", data.Value)
	}
	envelope, err := base64.StdEncoding.DecodeString(value)
	if err != nil || !bytes.HasPrefix(envelope, []byte("CIFR\x00\x01")) {
		t.Fatalf("value is not a base64 envelope: %v", err)
	}
	canonical, _ := json.Marshal(seedHealthData()) // sorted keys, no whitespace: what was sealed
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	meta := data.EncryptionMetadata
	if data.KeyID != key.KeyID || data.KeyVersion != "1" || data.Algorithm != "AES-256-GCM" || !data.CompressionUsed ||
		len(data.IV) != 16 || !bytes.Equal(data.AuthTag, envelope[len(envelope)-16:]) || data.Fields != nil || meta == nil ||
		meta.EncryptedSize != len(envelope) || meta.ChecksumEncrypted != sum(envelope) || meta.DataSize != len(canonical) ||
		meta.ChecksumOriginal != sum(canonical) || meta.Timestamp.IsZero() {
		t.Fatalf("%+v %+v", data, meta)
	}
	if !reflect.DeepEqual(sealed.Compliance, DataCompliance{DataClassification: "restricted", RetentionPolicy: "7 years",
		AuditRequired: true, Regulations: []string{"HIPAA"}}) {
		t.Fatalf("%+v", sealed.Compliance)
	}
	opened, err := c.Security.Decrypt(ctx, careTeamRead(data, "workout_session_12345"))
	if err != nil {
		t.Fatal(err)
	}
	var asMap map[string]interface{}
	var asStruct healthRecord
	if err := opened.Decode(&asMap); err != nil || !reflect.DeepEqual(asMap, asJSON(t, seedHealthData())) {
		t.Fatalf("%s: %v", opened.Data, err)
	}
	if err := opened.Decode(&asStruct); err != nil || !reflect.DeepEqual(asStruct, healthRecord{72, "120/80",
		[]string{"Lisinopril 10mg", "Metformin 500mg"}}) {
		t.Fatalf("%+v: %v", asStruct, err)
	}
	m := opened.DecryptionMetadata
	if m.KeyUsed != key.KeyID || !m.DataIntegrityVerified || !m.DecompressionApplied || m.FailedFields != nil ||
		m.Timestamp.IsZero() || !opened.AccessLogged || opened.Compliance.AuditRecordID == "" ||
		opened.Compliance.DataAccess != (DataAccess{Purpose: "care team review", Authorized: true, ConsentVerified: false}) {
		t.Fatalf("%+v", opened)
	}

	// A string is sealed as its UTF-8 and comes back the same string; a struct as the object.
	text, err := c.Security.Encrypt(ctx, &EncryptDataRequest{Data: "a string, uncompressed — ünïcode", DataType: "health", UserID: seedUser})
	if err != nil || text.EncryptedData.CompressionUsed {
		t.Fatal(text, err)
	}
	opened, err = c.Security.Decrypt(ctx, careTeamRead(text.EncryptedData, ""))
	var s string
	if err != nil || opened.Decode(&s) != nil || s != "a string, uncompressed — ünïcode" || opened.DecryptionMetadata.DecompressionApplied {
		t.Fatal(opened, err)
	}
	record := healthRecord{HeartRate: 64, BloodPressure: "118/76", Medications: []string{}}
	sealed, err = c.Security.Encrypt(ctx, &EncryptDataRequest{Data: record, DataType: "health", UserID: seedUser})
	if err != nil {
		t.Fatal(err)
	}
	opened, err = c.Security.Decrypt(ctx, careTeamRead(sealed.EncryptedData, ""))
	var back healthRecord
	if err != nil || opened.Decode(&back) != nil || !reflect.DeepEqual(back, record) {
		t.Fatal(back, err)
	}
}

// The additional authenticated data is bound: other AAD, or none, is INVALID_CIPHERTEXT.
func TestLiveSecurityAADMismatchIsInvalidCiphertext(t *testing.T) {
	c := live(t, WithMaxRetries(0))
	ctx := context.Background()
	sharedHealthKey(t, c)
	sealed, err := c.Security.Encrypt(ctx, seedEncryptExample())
	if err != nil {
		t.Fatal(err)
	}
	for _, aad := range []string{"workout_session_99999", ""} {
		_, err := c.Security.Decrypt(ctx, careTeamRead(sealed.EncryptedData, aad))
		var bad *InvalidCiphertextError
		if !errors.As(err, &bad) || bad.Status != 400 {
			t.Fatalf("AAD %q: %v (%T)", aad, err, err)
		}
		asCode(t, err, CodeInvalidCiphertext)
	}
	if _, err := c.Security.Decrypt(ctx, careTeamRead(sealed.EncryptedData, "workout_session_12345")); err != nil {
		t.Fatal(err)
	}
}

// The seed offers AES-256-CBC; CIFER refuses it (no integrity): *InvalidRequestError naming the field.
func TestLiveSecurityAES256CBCIsAnInvalidRequest(t *testing.T) {
	c := live(t, WithMaxRetries(0))
	p := seedGenerateExample()
	p.UserID, p.Algorithm = "user_go_cbc", "AES-256-CBC"
	_, err := c.Security.GenerateKey(context.Background(), p)
	var bad *InvalidRequestError
	if !errors.As(err, &bad) || bad.Status != 400 || bad.Details["field"] != "algorithm" || !strings.Contains(bad.Message, "integrity") {
		t.Fatalf("%v (%T)", err, err)
	}
	asCode(t, err, CodeInvalidRequest)
}

// Field-level (extension): only the named fields are sealed, each its own envelope; Decrypt
// opens them; a sealed field moved to another field fails alone, named in FailedFields.
func TestLiveSecurityFieldLevelEncryptAndDecrypt(t *testing.T) {
	c := live(t)
	ctx := context.Background()
	sharedHealthKey(t, c)
	ask := seedEncryptExample()
	ask.Fields = []string{"heartRate", "/medications"}
	sealed, err := c.Security.Encrypt(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	data := sealed.EncryptedData
	var value map[string]interface{}
	if err := json.Unmarshal(data.Value, &value); err != nil {
		t.Fatalf("value is not an object: %s", data.Value)
	}
	heart, _ := value["heartRate"].(string)
	meds, _ := value["medications"].(string)
	if !reflect.DeepEqual(data.Fields, []string{"/heartRate", "/medications"}) || value["bloodPressure"] != "120/80" ||
		!strings.HasPrefix(heart, "cifer:v1:") || !strings.HasPrefix(meds, "cifer:v1:") || len(data.IV) != 16 {
		t.Fatalf("%+v %s", data, data.Value)
	}
	opened, err := c.Security.Decrypt(ctx, careTeamRead(data, "workout_session_12345"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]interface{}
	if err := opened.Decode(&got); err != nil || !reflect.DeepEqual(got, asJSON(t, seedHealthData())) ||
		!opened.DecryptionMetadata.DataIntegrityVerified || len(opened.DecryptionMetadata.FailedFields) != 0 ||
		len(strings.Split(opened.Compliance.AuditRecordID, ",")) != 2 {
		t.Fatalf("%s %+v: %v", opened.Data, opened.DecryptionMetadata, err)
	}

	// Swapped: each envelope records its field, so both fail, stay sealed, and are named.
	value["heartRate"], value["medications"] = meds, heart
	swapped := data
	swapped.Value, _ = json.Marshal(value)
	opened, err = c.Security.Decrypt(ctx, careTeamRead(swapped, "workout_session_12345"))
	if err != nil {
		t.Fatal(err)
	}
	failed := opened.DecryptionMetadata.FailedFields
	if opened.DecryptionMetadata.DataIntegrityVerified || len(failed) != 2 || failed[0].Field != "/heartRate" ||
		failed[1].Field != "/medications" {
		t.Fatalf("%+v", opened.DecryptionMetadata)
	}
	for _, f := range failed {
		var bad *InvalidCiphertextError
		if err := f.Error.Err(); !errors.As(err, &bad) || bad.Code != CodeInvalidCiphertext {
			t.Fatalf("%s: %v (%T)", f.Field, err, err)
		}
	}
	if err := opened.Decode(&got); err != nil || got["heartRate"] != meds || got["bloodPressure"] != "120/80" {
		t.Fatalf("%s: %v", opened.Data, err)
	}
}

// A batch whose one bad operation fails alone, typed; the others are sealed and decrypt.
func TestLiveSecurityABatchWithOneBadOperation(t *testing.T) {
	c := live(t)
	ctx := context.Background()
	key := sharedHealthKey(t, c)
	op := func(id string, data interface{}, dataType string) EncryptOperation {
		return EncryptOperation{OperationID: id, EncryptDataRequest: EncryptDataRequest{Data: data, DataType: dataType,
			UserID: seedUser, Context: &EncryptionContext{Purpose: "nightly export"}}}
	}
	batch, err := c.Security.EncryptBatch(ctx, &BatchEncryptRequest{BatchID: "go-batch-1", Priority: "high",
		Operations: []EncryptOperation{op("op-1", seedHealthData(), "health"), op("op-2", "a note", "health"),
			op("op-3", "a genome", "genome")}})
	if err != nil {
		t.Fatal(err)
	}
	if batch.BatchID != "go-batch-1" || batch.Status != "completed" || len(batch.Operations) != 3 ||
		batch.Summary != (BatchSummary{Total: 3, Successful: 2, Failed: 1}) {
		t.Fatalf("%+v", batch)
	}
	bad := batch.Operations[2]
	var invalid *InvalidRequestError
	if bad.OperationID != "op-3" || bad.Status != "failed" || bad.Result != nil || bad.Error == nil ||
		!errors.As(bad.Error.Err(), &invalid) || invalid.Details["field"] != "operations[2].dataType" {
		t.Fatalf("%+v %v", bad, bad.Error.Err())
	}
	for i, want := range []interface{}{seedHealthData(), "a note"} {
		done := batch.Operations[i]
		if done.Status != "completed" || done.Error.Err() != nil || done.Result == nil || done.Result.EncryptedData.KeyID != key.KeyID {
			t.Fatalf("%+v", done)
		}
		opened, err := c.Security.Decrypt(ctx, careTeamRead(done.Result.EncryptedData, ""))
		var got interface{}
		if err != nil || opened.Decode(&got) != nil || !reflect.DeepEqual(got, asJSON(t, want)) {
			t.Fatalf("%s: %s %v", done.OperationID, opened.Data, err)
		}
	}
}

// Rotation keeps the id and moves the version; the old version still decrypts within the grace
// period. Revocation takes the confirmation code of the current version: one read before the
// rotation is refused; after it nothing of the key opens.
func TestLiveSecurityRotateAndRevokeWithTheConfirmationCode(t *testing.T) {
	c := live(t, WithMaxRetries(0))
	ctx := context.Background()
	const user = "user_go_rotation"
	key, err := c.Security.GenerateKey(ctx, &GenerateKeyRequest{UserID: user, KeyType: "financial-data",
		Algorithm: "ChaCha20-Poly1305", KeyUsage: "both", ExpirationDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	if key.Algorithm != "ChaCha20-Poly1305" || key.Compliance.NISTCompliant || key.ExpiresAt.Sub(key.CreatedAt) != 30*24*time.Hour {
		t.Fatalf("%+v", key)
	}
	seal := func() EncryptedData {
		t.Helper()
		sealed, err := c.Security.Encrypt(ctx, &EncryptDataRequest{Data: "IBAN DE89 3704 0044 0532 0130 00",
			DataType: "financial", UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		return sealed.EncryptedData
	}
	open := func(sealed EncryptedData) error {
		_, err := c.Security.Decrypt(ctx, &DecryptDataRequest{EncryptedData: sealed, UserID: user, AccessPurpose: "audit"})
		return err
	}
	before := seal()
	if before.KeyVersion != "1" || before.Algorithm != "ChaCha20-Poly1305" {
		t.Fatalf("%+v", before)
	}
	if err := open(before); err != nil { // now the key service has seen one envelope of version 1
		t.Fatal(err)
	}
	once := &RotateKeyRequest{Reason: "scheduled", GracePeriodDays: Int(7), IdempotencyKey: NewIdempotencyKey()}
	rot, err := c.Security.RotateKey(ctx, key.KeyID, once)
	if err != nil || rot.OldKeyID != key.KeyID || rot.NewKeyID != key.KeyID || rot.OldKeyVersion != "1" ||
		rot.NewKeyVersion != "2" || rot.GracePeriodEnd.Sub(rot.RotationDate) != 7*24*time.Hour || rot.AffectedRecords != 1 ||
		rot.ReencryptionStatus != "pending" || !rot.EstimatedCompletionTime.Equal(rot.GracePeriodEnd) {
		t.Fatal(rot, err)
	}
	if again, err := c.Security.RotateKey(ctx, key.KeyID, once); err != nil || again.NewKeyVersion != "2" { // replayed
		t.Fatal(again, err)
	}
	if got, err := c.Security.GetKey(ctx, key.KeyID); err != nil || got.KeyVersion != "2" || got.ConfirmationCode() != rot.ConfirmationCode() {
		t.Fatal(got, err)
	}
	if after := seal(); after.KeyVersion != "2" {
		t.Fatalf("sealed to version %s after the rotation", after.KeyVersion)
	}
	if err := open(before); err != nil { // within the grace period
		t.Fatal(err)
	}

	revoke := &RevokeKeyRequest{Reason: "compromise", EmergencyRevocation: true, DataAction: "archive",
		ConfirmationCode: key.ConfirmationCode()} // read before the rotation: stale
	_, err = c.Security.RevokeKey(ctx, key.KeyID, revoke)
	var stale *InvalidRequestError
	if !errors.As(err, &stale) {
		t.Fatalf("a stale confirmation code: %v (%T)", err, err)
	}
	asCode(t, err, CodeInvalidRequest)
	revoke.ConfirmationCode = rot.ConfirmationCode()
	rev, err := c.Security.RevokeKey(ctx, key.KeyID, revoke)
	if err != nil || rev.KeyID != key.KeyID || rev.Reason != "compromise" || rev.RevocationDate.IsZero() ||
		rev.AffectedData.Action != "archive" || rev.AffectedData.RecordCount != 1 ||
		!reflect.DeepEqual(rev.AffectedData.DataTypes, []string{"financial"}) ||
		!reflect.DeepEqual(rev.ComplianceNotifications, []string{"cifer.revoked"}) || len(rev.Raw) == 0 {
		t.Fatal(rev, err)
	}
	// Revoked for good: nothing of it opens, it is no longer found, and the user has no key to seal to.
	if err := open(before); !errors.As(err, new(*CiferRevokedError)) {
		t.Fatalf("Decrypt: %v", err)
	}
	if _, err := c.Security.GetKey(ctx, key.KeyID); !errors.As(err, new(*NotFoundError)) {
		t.Fatalf("GetKey: %v", err)
	}
	if found, err := c.Security.FindKeys(ctx, user, "financial-data"); err != nil || len(found) != 0 {
		t.Fatal(found, err)
	}
	if _, err := c.Security.RevokeKey(ctx, key.KeyID, revoke); !errors.As(err, new(*CiferRevokedError)) {
		t.Fatalf("RevokeKey again: %v", err)
	}
}

// The error paths of the calls that need no new key, each as its own type.
func TestLiveSecurityErrorPaths(t *testing.T) {
	c := live(t, WithMaxRetries(0))
	ctx := context.Background()
	url, _ := liveEnv(t)
	stranger, err := NewClient(WithBaseURL(url), WithAPIKey("sk_test_"+strings.Repeat("0", 56)), WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	revoke := &RevokeKeyRequest{Reason: "compromise", DataAction: "delete", ConfirmationCode: unknownCifer + ":1"}
	for name, tc := range map[string]struct {
		call func() error
		want interface{}
	}{
		"GetKey malformed":  {func() error { _, err := c.Security.GetKey(ctx, "cif_short"); return err }, new(*InvalidCiferIDError)},
		"GetKey empty":      {func() error { _, err := c.Security.GetKey(ctx, ""); return err }, new(*InvalidCiferIDError)},
		"GetKey unknown":    {func() error { _, err := c.Security.GetKey(ctx, unknownCifer); return err }, new(*NotFoundError)},
		"RotateKey unknown": {func() error { _, err := c.Security.RotateKey(ctx, unknownCifer, nil); return err }, new(*NotFoundError)},
		"RevokeKey unknown": {func() error { _, err := c.Security.RevokeKey(ctx, unknownCifer, revoke); return err }, new(*NotFoundError)},
		"FindKeys bad type": {func() error { _, err := c.Security.FindKeys(ctx, seedUser, "dna-data"); return err }, new(*InvalidRequestError)},
		"Encrypt no key": {func() error {
			_, err := c.Security.Encrypt(ctx, &EncryptDataRequest{Data: "x", DataType: "location", UserID: "user_go_nobody"})
			return err
		}, new(*NotFoundError)},
		"Encrypt fields of a string": {func() error {
			_, err := c.Security.Encrypt(ctx, &EncryptDataRequest{Data: "x", DataType: "health", UserID: seedUser, Fields: []string{"/a"}})
			return err
		}, new(*InvalidRequestError)},
		"Decrypt without a purpose": {func() error {
			_, err := c.Security.Decrypt(ctx, &DecryptDataRequest{EncryptedData: EncryptedData{KeyID: unknownCifer,
				KeyVersion: "1", Algorithm: "AES-256-GCM"}, UserID: seedUser})
			return err
		}, new(*InvalidRequestError)},
		"GenerateKey stranger": {func() error { _, err := stranger.Security.GenerateKey(ctx, seedGenerateExample()); return err },
			new(*AuthenticationError)},
		"Encrypt stranger": {func() error { _, err := stranger.Security.Encrypt(ctx, seedEncryptExample()); return err },
			new(*AuthenticationError)},
	} {
		err := tc.call()
		if !errors.As(err, tc.want) {
			t.Fatalf("%s: %v (%T)", name, err, err)
		}
	}
}
