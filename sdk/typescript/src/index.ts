/**
 * @cifer-io/sdk: the CIFER API from TypeScript and JavaScript (seed 000 §6.3), and local
 * sealing of CIFER envelopes with ML-KEM (docs/envelope.md).
 */

export { CiferClient, DEFAULT_BASE_URL, type CiferClientOptions, type Ciphertext, type EncryptOptions } from './client.js';
export {
  AuthenticationError, CiferConnectionError, CiferError, CiferRevokedError, CircuitOpenError, ERROR_CLASSES,
  InternalError, InvalidCiferIdError, InvalidCiphertextError, InvalidKeyError, InvalidRequestError, NotFoundError,
  PermissionDeniedError, RateLimitError, ServiceUnavailableError, StreamError, UnauthorizedDecryptError,
  type CiferErrorOptions,
} from './errors.js';
export { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './breaker.js';
export type { RequestEvent, RequestHook, SpanLike, TracerLike } from './hooks.js';
export type { RetryOptions, FetchLike } from './transport.js';
export type {
  Cifer, CiferPage, Delivery, DecryptResult, EncryptResult, Page, PublicKey, Revocation, Rotation, Webhook,
  WebhookDeletion, WebhookPage,
} from './models.js';
export { Bytes } from './models.js';
export type { CiferPolicy, CreateCiferParams, CreateWebhookParams, ListParams, UpdateCiferParams, UpdateWebhookParams } from './resources.js';
export {
  Security, revocationCode, type BatchEncryptRequest, type BatchEncryptResponse, type BatchOperationResult,
  type DecryptDataRequest, type DecryptDataResponse, type EncryptDataRequest, type EncryptDataResponse,
  type EncryptOperation, type FailedField, type FindKeysRequest, type FindKeysResponse, type GenerateKeyRequest,
  type GenerateKeyResponse, type RevokeKeyRequest, type RevokeKeyResponse, type RotateKeyRequest, type RotateKeyResponse,
} from './security.js';
export { CiferStream, type BodySource } from './streams.js';
export type { ByteSource } from './iterate.js';
export {
  DEFAULT_TOLERANCE_S, EVENT_ID_HEADER, SIGNATURE_HEADER, SIGNATURE_V2_HEADER, verifyWebhookSignature, type VerifyOptions,
} from './webhooks.js';
export {
  sealLocally, sealStreamLocally, unsafeSealWithRandomness, type PublicKeyInput, type SealOptions, type UnsafeRandomness,
} from './envelope/seal.js';
export { DEFAULT_CHUNK_SIZE, encodeMetadata, type Metadata } from './envelope/format.js';
export {
  ML_KEM_768, ML_KEM_1024, X_WING, ML_KEM_768_CHACHA20_POLY1305, ML_KEM_1024_CHACHA20_POLY1305, X_WING_CHACHA20_POLY1305,
  SUITES, type Suite,
} from './envelope/suites.js';
export { AEAD_NAMES, type AeadName } from './envelope/aead.js';
