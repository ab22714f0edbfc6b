package cifer

// The endpoints the SDK calls, as the one endpoint table declares them (cifer/api/endpoints.py:
// operationId, method, path). A test holds these rows to the served OpenAPI document.
var (
	epHealth         = endpoint{"healthCheck", "GET", "/v1/health"}
	epCreateCifer    = endpoint{"createCifer", "POST", "/v1/cifers"}
	epListCifers     = endpoint{"listCifers", "GET", "/v1/cifers"}
	epGetCifer       = endpoint{"getCifer", "GET", "/v1/cifers/{cifer_id}"}
	epUpdateCifer    = endpoint{"updateCifer", "PATCH", "/v1/cifers/{cifer_id}"}
	epRevokeCifer    = endpoint{"revokeCifer", "DELETE", "/v1/cifers/{cifer_id}"}
	epRotateCifer    = endpoint{"rotateCifer", "POST", "/v1/cifers/{cifer_id}/rotate"}
	epGetPublicKey   = endpoint{"getPublicKey", "GET", "/v1/keys/{cifer_id}"}
	epWhoami         = endpoint{"whoami", "GET", "/v1/whoami"}
	epCreateWebhook  = endpoint{"createWebhook", "POST", "/v1/webhooks"}
	epListWebhooks   = endpoint{"listWebhooks", "GET", "/v1/webhooks"}
	epGetWebhook     = endpoint{"getWebhook", "GET", "/v1/webhooks/{webhook_id}"}
	epUpdateWebhook  = endpoint{"updateWebhook", "PATCH", "/v1/webhooks/{webhook_id}"}
	epDeleteWebhook  = endpoint{"deleteWebhook", "DELETE", "/v1/webhooks/{webhook_id}"}
	epListDeliveries = endpoint{"listDeliveries", "GET", "/v1/webhooks/{webhook_id}/deliveries"}
	epEncrypt        = endpoint{"encryptData", "POST", "/v1/encrypt"}
	epDecrypt        = endpoint{"decryptData", "POST", "/v1/decrypt"}
	epShutdown       = endpoint{"shutdownSidecar", "POST", "/v1/shutdown"}

	// Seed 001's data-protection API (docs/security-api.md).
	epSecurityGenerateKey  = endpoint{"securityGenerateKey", "POST", "/api/security/keys/generate"}
	epSecurityFindKeys     = endpoint{"securityFindKeys", "GET", "/api/security/keys"}
	epSecurityGetKey       = endpoint{"securityGetKey", "GET", "/api/security/keys/{keyId}"}
	epSecurityRotateKey    = endpoint{"securityRotateKey", "POST", "/api/security/keys/{keyId}/rotate"}
	epSecurityRevokeKey    = endpoint{"securityRevokeKey", "DELETE", "/api/security/keys/{keyId}"}
	epSecurityEncrypt      = endpoint{"securityEncrypt", "POST", "/api/security/encrypt"}
	epSecurityDecrypt      = endpoint{"securityDecrypt", "POST", "/api/security/decrypt"}
	epSecurityEncryptBatch = endpoint{"securityEncryptBatch", "POST", "/api/security/encrypt/batch"}

	allEndpoints = []endpoint{epHealth, epCreateCifer, epListCifers, epGetCifer, epUpdateCifer, epRevokeCifer,
		epRotateCifer, epGetPublicKey, epWhoami, epCreateWebhook, epListWebhooks, epGetWebhook, epUpdateWebhook,
		epDeleteWebhook, epListDeliveries, epEncrypt, epDecrypt, epShutdown, epSecurityGenerateKey, epSecurityFindKeys,
		epSecurityGetKey, epSecurityRotateKey, epSecurityRevokeKey, epSecurityEncrypt, epSecurityDecrypt,
		epSecurityEncryptBatch}
)
