package cifer

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// CifersService is `/v1/cifers`: client.Cifers.
type CifersService struct{ c *Client }

// CreateParams is seed §4.1's request.
type CreateParams struct {
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Policy      *Policy           `json:"policy,omitempty"`
	Algorithm   string            `json:"algorithm,omitempty"` // ML-KEM-768 (the default), ML-KEM-1024, X-Wing
	// IdempotencyKey is sent as X-Idempotency-Key (else a random one per call): a Create repeated
	// with the same key makes one CIFER.
	IdempotencyKey string `json:"-"`
}

// Create makes a new CIFER.
func (s *CifersService) Create(ctx context.Context, p *CreateParams) (*Cifer, error) {
	if p == nil {
		p = &CreateParams{}
	}
	out := &Cifer{}
	if err := s.c.do(ctx, call{ep: epCreateCifer, body: p, idempotencyKey: p.IdempotencyKey}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Get reads a CIFER (seed §4.2).
func (s *CifersService) Get(ctx context.Context, ciferID string) (*Cifer, error) {
	out := &Cifer{}
	if err := s.c.do(ctx, call{ep: epGetCifer, pathArgs: []string{ciferID}}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListParams selects a page of CIFERs, ordered by id.
type ListParams struct {
	Status string // "active", "revoked", or "" for both
	Limit  int    // 1 to 100; 0: the server's default (20)
	Cursor string // a previous page's NextCursor
}

// List reads one page of the caller's CIFERs.
func (s *CifersService) List(ctx context.Context, p *ListParams) (*CiferPage, error) {
	q := url.Values{}
	if p != nil {
		if p.Status != "" {
			q.Set("status", p.Status)
		}
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
		if p.Cursor != "" {
			q.Set("cursor", p.Cursor)
		}
	}
	out := &CiferPage{}
	if err := s.c.do(ctx, call{ep: epListCifers, query: q}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateParams changes what it sets; nil or empty fields are left as they are. Metadata and
// Policy replace the whole map or policy. A new Policy.AutoRotateDays moves the next rotation.
type UpdateParams struct {
	Name           string            `json:"name,omitempty"`
	Description    string            `json:"description,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Policy         *Policy           `json:"policy,omitempty"`
	IdempotencyKey string            `json:"-"`
}

// Update changes a CIFER (the owner or an admin).
func (s *CifersService) Update(ctx context.Context, ciferID string, p *UpdateParams) (*Cifer, error) {
	if p == nil {
		p = &UpdateParams{}
	}
	out := &Cifer{}
	err := s.c.do(ctx, call{ep: epUpdateCifer, pathArgs: []string{ciferID}, body: p, idempotencyKey: p.IdempotencyKey}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RotateParams is seed §4.5's request.
type RotateParams struct {
	Reason string `json:"reason,omitempty"`
	// ReEncryptionWindowDays: how long the old version still decrypts; nil: the CIFER's
	// policy.re_encryption_window_days, else the server's default.
	ReEncryptionWindowDays *int   `json:"re_encryption_window_days,omitempty"`
	IdempotencyKey         string `json:"-"`
}

// Rotate makes a new key version (seed §4.5).
func (s *CifersService) Rotate(ctx context.Context, ciferID string, p *RotateParams) (*Rotation, error) {
	if p == nil {
		p = &RotateParams{}
	}
	out := &Rotation{}
	err := s.c.do(ctx, call{ep: epRotateCifer, pathArgs: []string{ciferID}, body: p, idempotencyKey: p.IdempotencyKey}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Revoke revokes a CIFER for good (seed §4.6): everything sealed to it becomes unreadable.
// Calling Revoke is the confirmation; it sends X-Confirm-Revocation: true.
func (s *CifersService) Revoke(ctx context.Context, ciferID string) (*Revocation, error) {
	out := &Revocation{}
	h := http.Header{"X-Confirm-Revocation": {"true"}}
	if err := s.c.do(ctx, call{ep: epRevokeCifer, pathArgs: []string{ciferID}, header: h}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// KeysService is `/v1/keys`: client.Keys.
type KeysService struct{ c *Client }

// Get reads a CIFER's current public key (seed §4.7; no credential needed).
func (s *KeysService) Get(ctx context.Context, ciferID string) (*PublicKey, error) {
	out := &PublicKey{}
	if err := s.c.do(ctx, call{ep: epGetPublicKey, pathArgs: []string{ciferID}}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// WebhooksService is `/v1/webhooks`: client.Webhooks.
type WebhooksService struct{ c *Client }

// WebhookParams registers a webhook (seed §7.4).
type WebhookParams struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Secret signs the deliveries (16 to 256 characters); the server never shows it again.
	Secret         string   `json:"secret"`
	CiferIDs       []string `json:"cifer_ids,omitempty"` // only events about these CIFERs; nil: all of the caller's
	IdempotencyKey string   `json:"-"`
}

// Create registers a webhook endpoint.
func (s *WebhooksService) Create(ctx context.Context, p *WebhookParams) (*Webhook, error) {
	if p == nil {
		return nil, errors.New("cifer: Webhooks.Create needs its params")
	}
	out := &Webhook{}
	if err := s.c.do(ctx, call{ep: epCreateWebhook, body: p, idempotencyKey: p.IdempotencyKey}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// WebhookUpdateParams changes what it sets. ClearCiferIDs removes the filter (events about
// every CIFER again); CiferIDs sets a new one.
type WebhookUpdateParams struct {
	URL            string
	Events         []string
	Secret         string
	CiferIDs       []string
	ClearCiferIDs  bool
	IdempotencyKey string
}

// Update changes a webhook.
func (s *WebhooksService) Update(ctx context.Context, webhookID string, p *WebhookUpdateParams) (*Webhook, error) {
	if p == nil {
		p = &WebhookUpdateParams{}
	}
	body := map[string]interface{}{}
	if p.URL != "" {
		body["url"] = p.URL
	}
	if p.Events != nil {
		body["events"] = p.Events
	}
	if p.Secret != "" {
		body["secret"] = p.Secret
	}
	if p.ClearCiferIDs {
		body["cifer_ids"] = nil
	} else if p.CiferIDs != nil {
		body["cifer_ids"] = p.CiferIDs
	}
	out := &Webhook{}
	err := s.c.do(ctx, call{ep: epUpdateWebhook, pathArgs: []string{webhookID}, body: body, idempotencyKey: p.IdempotencyKey}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Get reads a webhook.
func (s *WebhooksService) Get(ctx context.Context, webhookID string) (*Webhook, error) {
	out := &Webhook{}
	if err := s.c.do(ctx, call{ep: epGetWebhook, pathArgs: []string{webhookID}}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// List reads one page of the caller's webhooks (limit 0: the server's default).
func (s *WebhooksService) List(ctx context.Context, limit int, cursor string) (*WebhookPage, error) {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	out := &WebhookPage{}
	if err := s.c.do(ctx, call{ep: epListWebhooks, query: q}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes a webhook.
func (s *WebhooksService) Delete(ctx context.Context, webhookID string) (*WebhookDeletion, error) {
	out := &WebhookDeletion{}
	if err := s.c.do(ctx, call{ep: epDeleteWebhook, pathArgs: []string{webhookID}}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Deliveries lists a webhook's latest deliveries, newest first (limit 0: the server's default).
func (s *WebhooksService) Deliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error) {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	if err := s.c.do(ctx, call{ep: epListDeliveries, pathArgs: []string{webhookID}, query: q}, &out); err != nil {
		return nil, err
	}
	return out.Deliveries, nil
}

// Identity is who the credential proves (GET /v1/whoami).
type Identity struct {
	Principal string   `json:"principal"`
	Kind      string   `json:"kind"` // api_key, serviceaccount, oidc
	Scopes    []string `json:"scopes"`
}

// WhoAmI says who the client's credential proves, and its scopes.
func (c *Client) WhoAmI(ctx context.Context) (*Identity, error) {
	out := &Identity{}
	if err := c.do(ctx, call{ep: epWhoami}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Health checks the API (GET /v1/health): nil when it answers 200.
func (c *Client) Health(ctx context.Context) error {
	var out map[string]interface{}
	return c.do(ctx, call{ep: epHealth}, &out)
}
