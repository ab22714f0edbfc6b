package cifer

// Seed 001's data-protection API, `/api/security/*` (docs/security-api.md): keys per user and
// data type, and values sealed and opened as the seed's JSON shapes. Field names are the seed's
// camelCase; CIFER's extensions are marked so.

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"
)

// SecurityService is `/api/security`: client.Security. A seed-001 key is a CIFER: its KeyID is
// the cifer id (`cif_...`), its KeyVersion the cifer's key version as a string.
type SecurityService struct{ c *Client }

// KeyMetadata is GenerateKeyRequest's metadata, kept with the key and answered back.
type KeyMetadata struct {
	Purpose               string `json:"purpose,omitempty"`               // also the key's description
	DataClassification    string `json:"dataClassification,omitempty"`    // public, internal, confidential, restricted
	RegulatoryRequirement string `json:"regulatoryRequirement,omitempty"` // e.g. "HIPAA Security Rule"
}

// GenerateKeyRequest is seed 001's GenerateKeyRequest.
type GenerateKeyRequest struct {
	UserID  string `json:"userId"`
	KeyType string `json:"keyType"` // user-data, health-data, financial-data, backup
	// Algorithm is the payload AEAD of the key's envelopes: AES-256-GCM or ChaCha20-Poly1305. The
	// seed's AES-256-CBC is refused (*InvalidRequestError): it has no integrity.
	Algorithm      string       `json:"algorithm"`
	KeyUsage       string       `json:"keyUsage"`                 // encrypt, decrypt, both
	ExpirationDays int          `json:"expirationDays,omitempty"` // 1 to 3650; 0: the server's default, 90
	Metadata       *KeyMetadata `json:"metadata,omitempty"`
	// AllowedPrincipals (extension): who besides the creator may decrypt.
	AllowedPrincipals []string `json:"allowedPrincipals,omitempty"`
	// AllowedPurposes (extension): a decryption must name one of these as its AccessPurpose.
	AllowedPurposes []string `json:"allowedPurposes,omitempty"`
	// IdempotencyKey is sent as X-Idempotency-Key (else a random one per call): a GenerateKey
	// repeated with the same key makes one key.
	IdempotencyKey string `json:"-"`
}

// KeyCompliance is what a key's answer says of its compliance.
type KeyCompliance struct {
	FIPSValidated bool     `json:"fipsValidated"` // false: no KEK here is a FIPS 140 validated module
	NISTCompliant bool     `json:"nistCompliant"` // every primitive NIST-approved (AES-256-GCM yes, ChaCha20 no)
	Regulations   []string `json:"regulations"`   // those named by the metadata's regulatoryRequirement
}

// SecurityKey is seed 001's GenerateKeyResponse: what GenerateKey answers, and FindKeys and
// GetKey read.
type SecurityKey struct {
	KeyID      string    `json:"keyId"`
	KeyVersion string    `json:"keyVersion"` // the cifer's key version, "1" and up
	Algorithm  string    `json:"algorithm"`
	KeyUsage   string    `json:"keyUsage"`
	CreatedAt  time.Time `json:"createdAt"`
	// ExpiresAt is nil for a cifer made by Cifers.Create without an expiry. After it the key's
	// Status is "expired": it no longer encrypts, and still decrypts.
	ExpiresAt   *time.Time    `json:"expiresAt"`
	Status      string        `json:"status"`      // active, expired, revoked
	KMSProvider string        `json:"kmsProvider"` // the KEK configured: pkcs11 or file (not the seed's clouds)
	KeyArn      string        `json:"keyArn,omitempty"`
	UserID      string        `json:"userId,omitempty"`  // extension
	KeyType     string        `json:"keyType,omitempty"` // extension
	Metadata    KeyMetadata   `json:"metadata"`          // extension: the request's metadata
	Compliance  KeyCompliance `json:"compliance"`
	raw
}

// ConfirmationCode is what RevokeKeyRequest.ConfirmationCode must be for this key as read:
// "<keyId>:<keyVersion>".
func (k *SecurityKey) ConfirmationCode() string { return k.KeyID + ":" + k.KeyVersion }

// GenerateKey makes a key for one user's data of one key type (seed 001; a CIFER named
// `keyType:userId`). The server answers 201.
func (s *SecurityService) GenerateKey(ctx context.Context, p *GenerateKeyRequest) (*SecurityKey, error) {
	if p == nil {
		return nil, errors.New("cifer: Security.GenerateKey needs its request")
	}
	out := &SecurityKey{}
	if err := s.c.do(ctx, call{ep: epSecurityGenerateKey, body: p, idempotencyKey: p.IdempotencyKey}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// FindKeys reads the unrevoked keys of a user and key type, newest first (extension): Encrypt
// seals to the newest active one.
func (s *SecurityService) FindKeys(ctx context.Context, userID, keyType string) ([]SecurityKey, error) {
	q := url.Values{"userId": {userID}, "keyType": {keyType}}
	var out struct {
		Keys []SecurityKey `json:"keys"`
	}
	if err := s.c.do(ctx, call{ep: epSecurityFindKeys, query: q}, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// GetKey reads one unrevoked key (extension); a revoked one is a *NotFoundError.
func (s *SecurityService) GetKey(ctx context.Context, keyID string) (*SecurityKey, error) {
	out := &SecurityKey{}
	if err := s.c.do(ctx, call{ep: epSecurityGetKey, pathArgs: []string{keyID}}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// RotateKeyRequest is seed 001's RotateKeyRequest.
type RotateKeyRequest struct {
	Reason string `json:"reason,omitempty"` // scheduled, security_incident, compliance_requirement, manual (the default)
	// GracePeriodDays: how long the rotated-out version still decrypts, 0 to 365; nil: 30.
	GracePeriodDays *int `json:"gracePeriodDays,omitempty"`
	// ImmediateRotation and NotifyUsers are accepted: every rotation is immediate, and the
	// owner's webhooks hear cifer.rotated whatever they say.
	ImmediateRotation bool   `json:"immediateRotation,omitempty"`
	NotifyUsers       bool   `json:"notifyUsers,omitempty"`
	IdempotencyKey    string `json:"-"`
}

// RotateKeyResponse is seed 001's RotateKeyResponse. A rotation keeps the id: OldKeyID and
// NewKeyID are equal, and OldKeyVersion and NewKeyVersion (extension) say what changed.
type RotateKeyResponse struct {
	OldKeyID      string    `json:"oldKeyId"`
	NewKeyID      string    `json:"newKeyId"`
	OldKeyVersion string    `json:"oldKeyVersion"`
	NewKeyVersion string    `json:"newKeyVersion"`
	RotationDate  time.Time `json:"rotationDate"`
	// GracePeriodEnd is when the old version stops decrypting.
	GracePeriodEnd time.Time `json:"gracePeriodEnd"`
	// AffectedRecords counts the envelopes of the old version whose data key the key service has
	// released: envelopes never decrypted are unknown to it.
	AffectedRecords         int       `json:"affectedRecords"`
	ReencryptionStatus      string    `json:"reencryptionStatus"` // "pending": sidecars rewrap, no job runs
	EstimatedCompletionTime time.Time `json:"estimatedCompletionTime"`
	raw
}

// ConfirmationCode is RevokeKeyRequest.ConfirmationCode for the key as this rotation left it.
func (r *RotateKeyResponse) ConfirmationCode() string { return r.NewKeyID + ":" + r.NewKeyVersion }

// RotateKey makes a new key version (as Cifers.Rotate).
func (s *SecurityService) RotateKey(ctx context.Context, keyID string, p *RotateKeyRequest) (*RotateKeyResponse, error) {
	if p == nil {
		p = &RotateKeyRequest{}
	}
	out := &RotateKeyResponse{}
	err := s.c.do(ctx, call{ep: epSecurityRotateKey, pathArgs: []string{keyID}, body: p, idempotencyKey: p.IdempotencyKey}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeKeyRequest is seed 001's RevokeKeyRequest. All four fields are required.
type RevokeKeyRequest struct {
	Reason              string `json:"reason"`              // compromise, user_deletion, policy_violation, expiration
	EmergencyRevocation bool   `json:"emergencyRevocation"` // recorded; every revocation is immediate
	DataAction          string `json:"dataAction"`          // delete, reencrypt, archive: recorded for the caller to carry out
	// ConfirmationCode is "<keyId>:<keyVersion>", the key's current version as the caller read
	// it (SecurityKey.ConfirmationCode, RotateKeyResponse.ConfirmationCode). A code read before a
	// rotation is refused (*InvalidRequestError naming the current key_version).
	ConfirmationCode string `json:"confirmationCode"`
}

// AffectedData is what a revocation says of the data sealed to the key.
type AffectedData struct {
	RecordCount        int       `json:"recordCount"` // distinct envelopes the key service has opened
	DataTypes          []string  `json:"dataTypes"`
	Action             string    `json:"action"` // the request's dataAction, for the caller to carry out
	CompletionEstimate time.Time `json:"completionEstimate"`
}

// RevokeKeyResponse is seed 001's RevokeKeyResponse.
type RevokeKeyResponse struct {
	KeyID                   string       `json:"keyId"`
	RevocationDate          time.Time    `json:"revocationDate"`
	Reason                  string       `json:"reason"`
	AffectedData            AffectedData `json:"affectedData"`
	ComplianceNotifications []string     `json:"complianceNotifications"` // the events sent: cifer.revoked
	raw
}

// RevokeKey revokes a key for good (as Cifers.Revoke): everything sealed to it becomes
// unreadable. It is a DELETE with a JSON body, and so carries no idempotency key.
func (s *SecurityService) RevokeKey(ctx context.Context, keyID string, p *RevokeKeyRequest) (*RevokeKeyResponse, error) {
	if p == nil {
		return nil, errors.New("cifer: Security.RevokeKey needs its request, with the confirmation code")
	}
	out := &RevokeKeyResponse{}
	if err := s.c.do(ctx, call{ep: epSecurityRevokeKey, pathArgs: []string{keyID}, body: p}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// EncryptionContext is EncryptDataRequest's context.
type EncryptionContext struct {
	Purpose        string `json:"purpose,omitempty"`        // a label of the usage records
	Retention      string `json:"retention,omitempty"`      // answered as compliance.retentionPolicy
	Classification string `json:"classification,omitempty"` // confidential or restricted
}

// EncryptDataRequest is seed 001's EncryptDataRequest.
//
// Data is the seed's `string | object`: a Go string is sealed as its UTF-8 bytes and comes back
// as the same string; anything else encoding/json makes a JSON object of (a map, a struct, a
// json.RawMessage) is sealed as canonical JSON and comes back equal. Note that encoding/json
// sends a []byte as base64 text: pass string(b) to seal text.
type EncryptDataRequest struct {
	Data     interface{}        `json:"data"`
	DataType string             `json:"dataType"` // health, personal, financial, location, biometric
	UserID   string             `json:"userId"`
	Context  *EncryptionContext `json:"context,omitempty"`
	// Compression: zlib before sealing. Compressing before encrypting leaks through the length
	// (CRIME, BREACH): only for values an attacker cannot partly choose.
	Compression bool `json:"compression,omitempty"`
	// AdditionalAuthenticatedData is bound to the envelope: Decrypt must give the same, or fails
	// with *InvalidCiphertextError. It is authenticated, not secret.
	AdditionalAuthenticatedData string `json:"additionalAuthenticatedData,omitempty"`
	// KeyID (extension) names the key; else the user's newest active key whose type serves
	// DataType (health: health-data; financial: financial-data; the others: user-data).
	KeyID string `json:"keyId,omitempty"`
	// Fields (extension) seals only these members of an object Data (JSON Pointers or dotted
	// paths, at most 64), each as its own envelope `"cifer:v1:<base64>"`; the object keeps its shape.
	Fields         []string `json:"fields,omitempty"`
	IdempotencyKey string   `json:"-"`
}

// EncryptionMetadata is EncryptedData's encryptionMetadata: sizes and SHA-256 checksums (hex)
// of the value as serialized and of the envelope (with Fields, of the whole object before and
// after).
type EncryptionMetadata struct {
	Timestamp         time.Time `json:"timestamp"`
	DataSize          int       `json:"dataSize"`
	EncryptedSize     int       `json:"encryptedSize"`
	ChecksumOriginal  string    `json:"checksumOriginal"`
	ChecksumEncrypted string    `json:"checksumEncrypted"`
}

// EncryptedData is seed 001's encryptedData: what Encrypt answers and Decrypt takes back as it
// is. Store it whole (it is JSON).
type EncryptedData struct {
	// Value is JSON as the server sent it: a string holding the whole envelope in base64; with
	// Fields, the object with each chosen field sealed. It is kept raw so that it goes back to
	// Decrypt unchanged.
	Value      json.RawMessage `json:"value"`
	KeyID      string          `json:"keyId"`
	KeyVersion string          `json:"keyVersion"`
	Algorithm  string          `json:"algorithm"`
	// IV (the envelope's 16-byte message id, from which every chunk's nonce is derived) and
	// AuthTag (its final chunk's tag) are informative: the envelope holds all it needs.
	IV                 []byte              `json:"iv"`
	AuthTag            []byte              `json:"authTag,omitempty"`
	CompressionUsed    bool                `json:"compressionUsed"`
	Fields             []string            `json:"fields,omitempty"` // extension: the sealed fields, as pointers
	EncryptionMetadata *EncryptionMetadata `json:"encryptionMetadata,omitempty"`
}

// DataCompliance is EncryptDataResponse's compliance.
type DataCompliance struct {
	DataClassification string   `json:"dataClassification"` // context.classification, else the key's, else unclassified
	RetentionPolicy    string   `json:"retentionPolicy"`    // context.retention, else unspecified
	AuditRequired      bool     `json:"auditRequired"`      // true: every key release is recorded
	Regulations        []string `json:"regulations"`        // the key's
}

// EncryptDataResponse is seed 001's EncryptDataResponse.
type EncryptDataResponse struct {
	EncryptedData EncryptedData  `json:"encryptedData"`
	Compliance    DataCompliance `json:"compliance"`
	raw
}

// Encrypt seals a string or a JSON object to the user's key for the data type, in the pod.
func (s *SecurityService) Encrypt(ctx context.Context, p *EncryptDataRequest) (*EncryptDataResponse, error) {
	if p == nil {
		return nil, errors.New("cifer: Security.Encrypt needs its request")
	}
	out := &EncryptDataResponse{}
	if err := s.c.do(ctx, call{ep: epSecurityEncrypt, body: p, idempotencyKey: p.IdempotencyKey}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DecryptDataRequest is seed 001's DecryptDataRequest. EncryptedData's KeyID, KeyVersion,
// Algorithm and CompressionUsed must agree with the envelope, and UserID be the user it was
// sealed for (*InvalidRequestError naming the field otherwise).
type DecryptDataRequest struct {
	EncryptedData EncryptedData `json:"encryptedData"`
	UserID        string        `json:"userId"`
	// AccessPurpose (required) is recorded in the audit record of the key's release.
	AccessPurpose               string `json:"accessPurpose"`
	AdditionalAuthenticatedData string `json:"additionalAuthenticatedData,omitempty"` // as given to Encrypt
	IdempotencyKey              string `json:"-"`
}

// Failure is one item's failure inside an answer that succeeded: a batch operation's, or a
// field's that stayed sealed. Err gives it as the typed error of its code.
type Failure struct {
	Code    string                 `json:"code"`
	Message string                 `json:"message"`
	Details map[string]interface{} `json:"details,omitempty"`
}

// Err is the failure as the typed error of its code (*InvalidRequestError,
// *InvalidCiphertextError, *NotFoundError, ...), usable with errors.As. Its Status and
// RequestID are empty: the answer around it was a success. A nil Failure is a nil error.
func (f *Failure) Err() error {
	if f == nil {
		return nil
	}
	return typed(&CiferError{Code: f.Code, Message: f.Message, Details: f.Details})
}

// FailedField is a field of a field-level decryption that could not be opened and stays sealed.
type FailedField struct {
	Field string  `json:"field"` // its JSON Pointer
	Error Failure `json:"error"`
}

// DecryptionMetadata is DecryptDataResponse's decryptionMetadata.
type DecryptionMetadata struct {
	Timestamp time.Time `json:"timestamp"`
	KeyUsed   string    `json:"keyUsed"`
	// DataIntegrityVerified is true once every chunk of every envelope authenticated; false when
	// a field failed.
	DataIntegrityVerified bool `json:"dataIntegrityVerified"`
	DecompressionApplied  bool `json:"decompressionApplied"`
	// FailedFields (extension, field-level only) names the fields left sealed, and why.
	FailedFields []FailedField `json:"failedFields,omitempty"`
}

// DataAccess is AccessCompliance's dataAccess.
type DataAccess struct {
	Purpose         string `json:"purpose"`
	Authorized      bool   `json:"authorized"`      // true: a refusal is an error, not an answer
	ConsentVerified bool   `json:"consentVerified"` // false: CIFER holds no record of consent
}

// AccessCompliance is DecryptDataResponse's compliance.
type AccessCompliance struct {
	// AuditRecordID is the id of the key release's audit record (GET /v1/audit's id); for fields,
	// each field's, comma-separated.
	AuditRecordID string     `json:"auditRecordId"`
	DataAccess    DataAccess `json:"dataAccess"`
}

// DecryptDataResponse is seed 001's DecryptDataResponse.
//
// Data is the seed's `string | object` as JSON, kept raw: decode it with Decode (into a *string
// for a string, into a map or the struct that was sealed for an object).
type DecryptDataResponse struct {
	Data               json.RawMessage    `json:"data"`
	DecryptionMetadata DecryptionMetadata `json:"decryptionMetadata"`
	AccessLogged       bool               `json:"accessLogged"` // true: the release was recorded first
	Compliance         AccessCompliance   `json:"compliance"`
	raw
}

// Decode unmarshals Data into v (json.Unmarshal).
func (r *DecryptDataResponse) Decode(v interface{}) error { return json.Unmarshal(r.Data, v) }

// Decrypt opens what Encrypt sealed, through the key service's audited key release. With
// EncryptedData.Fields, each field is opened on its own: what cannot be stays sealed and is
// named in DecryptionMetadata.FailedFields.
func (s *SecurityService) Decrypt(ctx context.Context, p *DecryptDataRequest) (*DecryptDataResponse, error) {
	if p == nil {
		return nil, errors.New("cifer: Security.Decrypt needs its request")
	}
	out := &DecryptDataResponse{}
	if err := s.c.do(ctx, call{ep: epSecurityDecrypt, body: p, idempotencyKey: p.IdempotencyKey}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// EncryptOperation is seed 001's EncryptOperation: what Encrypt takes, plus its OperationID
// (1 to 128 characters). The embedded request's IdempotencyKey is not used: the batch's is.
type EncryptOperation struct {
	OperationID string `json:"operationId"`
	EncryptDataRequest
}

// BatchCallback is where a batch's answer is also POSTed, signed as webhooks are with
// Authentication as the secret (16 to 256 characters; VerifyWebhookSignature checks it).
type BatchCallback struct {
	URL            string `json:"url"`
	Authentication string `json:"authentication"`
}

// BatchEncryptRequest is seed 001's BatchEncryptRequest: 1 to 1,000 operations.
type BatchEncryptRequest struct {
	Operations []EncryptOperation `json:"operations"`
	BatchID    string             `json:"batchId,omitempty"`  // else the server makes one
	Priority   string             `json:"priority,omitempty"` // low, normal (the default), high, urgent: checked, changes nothing
	// Callback: with more than 100 operations the answer is at once `queued` (202) and the
	// results come by the callback alone.
	Callback       *BatchCallback `json:"callback,omitempty"`
	IdempotencyKey string         `json:"-"`
}

// BatchOperationResult is seed 001's BatchOperationResult: Status "completed" with Result,
// "failed" with Error, or "pending" in a queued batch.
type BatchOperationResult struct {
	OperationID string               `json:"operationId"`
	Status      string               `json:"status"`
	Result      *EncryptDataResponse `json:"result,omitempty"`
	Error       *Failure             `json:"error,omitempty"`
}

// BatchSummary counts a batch's operations.
type BatchSummary struct {
	Total               int        `json:"total"`
	Successful          int        `json:"successful"`
	Failed              int        `json:"failed"`
	EstimatedCompletion *time.Time `json:"estimatedCompletion,omitempty"` // a queued batch's
}

// BatchEncryptResponse is seed 001's BatchEncryptResponse. Status is "completed" (some
// succeeded), "failed" (none did) or "queued" (delivered by the callback).
type BatchEncryptResponse struct {
	BatchID    string                 `json:"batchId"`
	Status     string                 `json:"status"`
	Operations []BatchOperationResult `json:"operations"`
	Summary    BatchSummary           `json:"summary"`
	raw
}

// EncryptBatch seals many values in one call. Each operation is judged on its own: a bad one
// fails alone, in its BatchOperationResult, and the call itself succeeds. Only what would fail
// every operation (the key service away, 503) fails the call.
func (s *SecurityService) EncryptBatch(ctx context.Context, p *BatchEncryptRequest) (*BatchEncryptResponse, error) {
	if p == nil {
		return nil, errors.New("cifer: Security.EncryptBatch needs its request")
	}
	out := &BatchEncryptResponse{}
	if err := s.c.do(ctx, call{ep: epSecurityEncryptBatch, body: p, idempotencyKey: p.IdempotencyKey}, out); err != nil {
		return nil, err
	}
	return out, nil
}
