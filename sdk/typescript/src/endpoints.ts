/**
 * The endpoints this SDK calls, declared once (cifer/api/endpoints.py is the server's table).
 * `name` is the OpenAPI operationId, which metrics and traces report (the Python SDK reports the
 * same names); `path` is the template, filled by `pathOf`.
 */

export interface Endpoint {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly path: string;
}

const endpoint = (name: string, method: Endpoint['method'], path: string): Endpoint => ({ name, method, path });

export const CREATE_CIFER = endpoint('createCifer', 'POST', '/v1/cifers');
export const LIST_CIFERS = endpoint('listCifers', 'GET', '/v1/cifers');
export const GET_CIFER = endpoint('getCifer', 'GET', '/v1/cifers/{cifer_id}');
export const UPDATE_CIFER = endpoint('updateCifer', 'PATCH', '/v1/cifers/{cifer_id}');
export const REVOKE_CIFER = endpoint('revokeCifer', 'DELETE', '/v1/cifers/{cifer_id}');
export const ROTATE_CIFER = endpoint('rotateCifer', 'POST', '/v1/cifers/{cifer_id}/rotate');
export const GET_PUBLIC_KEY = endpoint('getPublicKey', 'GET', '/v1/keys/{cifer_id}');
export const ENCRYPT = endpoint('encryptData', 'POST', '/v1/encrypt');
export const DECRYPT = endpoint('decryptData', 'POST', '/v1/decrypt');
export const CREATE_WEBHOOK = endpoint('createWebhook', 'POST', '/v1/webhooks');
export const LIST_WEBHOOKS = endpoint('listWebhooks', 'GET', '/v1/webhooks');
export const GET_WEBHOOK = endpoint('getWebhook', 'GET', '/v1/webhooks/{webhook_id}');
export const UPDATE_WEBHOOK = endpoint('updateWebhook', 'PATCH', '/v1/webhooks/{webhook_id}');
export const DELETE_WEBHOOK = endpoint('deleteWebhook', 'DELETE', '/v1/webhooks/{webhook_id}');
export const LIST_DELIVERIES = endpoint('listDeliveries', 'GET', '/v1/webhooks/{webhook_id}/deliveries');
export const HEALTH = endpoint('healthCheck', 'GET', '/v1/health');
export const SHUTDOWN = endpoint('shutdownSidecar', 'POST', '/v1/shutdown');
// Seed 001 (docs/security-api.md): keys on the key service (forwarded), data in the sidecar.
export const SECURITY_GENERATE_KEY = endpoint('securityGenerateKey', 'POST', '/api/security/keys/generate');
export const SECURITY_FIND_KEYS = endpoint('securityFindKeys', 'GET', '/api/security/keys');
export const SECURITY_GET_KEY = endpoint('securityGetKey', 'GET', '/api/security/keys/{keyId}');
export const SECURITY_ROTATE_KEY = endpoint('securityRotateKey', 'POST', '/api/security/keys/{keyId}/rotate');
export const SECURITY_REVOKE_KEY = endpoint('securityRevokeKey', 'DELETE', '/api/security/keys/{keyId}');
export const SECURITY_ENCRYPT = endpoint('securityEncrypt', 'POST', '/api/security/encrypt');
export const SECURITY_DECRYPT = endpoint('securityDecrypt', 'POST', '/api/security/decrypt');
export const SECURITY_ENCRYPT_BATCH = endpoint('securityEncryptBatch', 'POST', '/api/security/encrypt/batch');

/** The path with each `{name}` replaced by its value as one URL segment: an id cannot reach another endpoint. */
export function pathOf(endpointOf: Endpoint, params: Readonly<Record<string, string>> = {}): string {
  return endpointOf.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${name} must be a non-empty string`);
    return encodeURIComponent(value);
  });
}
