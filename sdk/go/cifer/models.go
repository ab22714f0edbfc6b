package cifer

import (
	"encoding/json"
	"time"
)

// raw keeps an answer's `data` as it came, so fields a newer server adds are not lost.
type raw struct {
	Raw json.RawMessage `json:"-"`
}

func (r *raw) setRaw(data json.RawMessage) { r.Raw = append(json.RawMessage(nil), data...) }

// Policy is a CIFER's policy (seed §4.1's CiferPolicy, with CIFER's extensions).
type Policy struct {
	AutoRotateDays         *int              `json:"auto_rotate_days,omitempty"`          // 0 to 365; 0: never
	AllowedOperations      []string          `json:"allowed_operations,omitempty"`        // encrypt, decrypt, rotate, revoke
	AllowedPrincipals      []string          `json:"allowed_principals,omitempty"`        // who may decrypt besides the owner
	ReEncryptionWindowDays *int              `json:"re_encryption_window_days,omitempty"` // a rotated-out version still decrypts this long
	RateLimits             map[string]string `json:"rate_limits,omitempty"`               // "decrypt": "LIMIT/WINDOW_S", per principal
}

// Int is a helper for the optional integers of Policy and RotateParams: Int(90).
func Int(v int) *int { return &v }

// Cifer is a CIFER encryption identity (seed §4.1, §4.2).
type Cifer struct {
	ID               string                 `json:"cifer_id"`
	Name             string                 `json:"name,omitempty"`
	Description      string                 `json:"description,omitempty"`
	Status           string                 `json:"status,omitempty"` // "active" or "revoked"
	OwnerID          string                 `json:"owner_id,omitempty"`
	KeyVersion       int                    `json:"key_version,omitempty"`
	KeyAlgorithm     string                 `json:"key_algorithm,omitempty"`
	EncapsulationKey []byte                 `json:"encapsulation_key,omitempty"` // DER SubjectPublicKeyInfo; Create answers it
	CreatedAt        time.Time              `json:"created_at"`
	UpdatedAt        time.Time              `json:"updated_at"`
	Metadata         map[string]string      `json:"metadata,omitempty"`
	Policy           *Policy                `json:"policy,omitempty"`
	Statistics       map[string]interface{} `json:"statistics,omitempty"`
	NextRotationAt   *time.Time             `json:"next_rotation_at,omitempty"`
	KeyCreatedAt     *time.Time             `json:"key_created_at,omitempty"`
	raw
}

// CiferPage is one page of Cifers.List; pass NextCursor as ListParams.Cursor for the next.
type CiferPage struct {
	Cifers     []Cifer `json:"cifers"`
	HasMore    bool    `json:"has_more"`
	NextCursor string  `json:"next_cursor,omitempty"`
	raw
}

// Rotation is the answer to Cifers.Rotate (seed §4.5).
type Rotation struct {
	CiferID              string    `json:"cifer_id"`
	OldKeyVersion        int       `json:"old_key_version"`
	NewKeyVersion        int       `json:"new_key_version"`
	NewEncapsulationKey  []byte    `json:"new_encapsulation_key,omitempty"`
	RotationInitiatedAt  time.Time `json:"rotation_initiated_at"`
	ReEncryptionDeadline time.Time `json:"re_encryption_deadline"`
	raw
}

// Revocation is the answer to Cifers.Revoke (seed §4.6).
type Revocation struct {
	CiferID   string    `json:"cifer_id"`
	Status    string    `json:"status"`
	RevokedAt time.Time `json:"revoked_at"`
	Warning   string    `json:"warning,omitempty"`
	raw
}

// PublicKey is a CIFER's current public key (seed §4.7).
type PublicKey struct {
	CiferID          string     `json:"cifer_id"`
	EncapsulationKey []byte     `json:"encapsulation_key"` // DER SubjectPublicKeyInfo
	KeyVersion       int        `json:"key_version"`
	Algorithm        string     `json:"algorithm"`
	ValidUntil       *time.Time `json:"valid_until,omitempty"`
	raw
}

// Algorithm names an envelope's suite.
type Algorithm struct {
	KEM  string `json:"kem"`
	AEAD string `json:"aead"`
}

// EncryptResult is seed §4.3's answer. Ciphertext is the raw envelope (the API sends it as
// base64; it is decoded here). Pass the result itself, or Envelope(result.Ciphertext) later,
// to Decrypt.
type EncryptResult struct {
	Ciphertext   []byte            `json:"ciphertext"`
	Encoding     string            `json:"encoding,omitempty"`
	EnvelopeSize int               `json:"envelope_size"`
	Algorithm    Algorithm         `json:"algorithm"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CiferID      string            `json:"cifer_id,omitempty"`
	KeyVersion   int               `json:"key_version,omitempty"`
}

// DecryptResult is seed §4.4's answer: the plaintext, and which key version of which CIFER
// opened it.
type DecryptResult struct {
	Plaintext  []byte            `json:"plaintext"`
	Encoding   string            `json:"encoding,omitempty"`
	CiferID    string            `json:"cifer_id,omitempty"`
	KeyVersion int               `json:"key_version,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// Webhook is a registered webhook endpoint (seed §7.4). Its secret is never returned.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CiferIDs  []string  `json:"cifer_ids"` // nil: events about every CIFER of the owner
	CreatedAt time.Time `json:"created_at"`
	raw
}

// WebhookPage is one page of Webhooks.List.
type WebhookPage struct {
	Webhooks   []Webhook `json:"webhooks"`
	HasMore    bool      `json:"has_more"`
	NextCursor string    `json:"next_cursor,omitempty"`
	raw
}

// WebhookDeletion is the answer to Webhooks.Delete.
type WebhookDeletion struct {
	ID        string    `json:"id"`
	Deleted   bool      `json:"deleted"`
	DeletedAt time.Time `json:"deleted_at"`
	raw
}

// Delivery is one event's delivery to one webhook.
type Delivery struct {
	EventID       string     `json:"event_id"`
	Type          string     `json:"type"`
	Status        string     `json:"status"` // pending, delivered, failed
	Attempts      int        `json:"attempts"`
	Created       time.Time  `json:"created"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	LastError     *string    `json:"last_error"`
}
