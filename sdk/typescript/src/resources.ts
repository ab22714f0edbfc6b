/**
 * The management endpoints, grouped as the seed's SDKs group them: `client.cifers`,
 * `client.keys`, `client.webhooks` (cifer/sdk/resources.py is the Python twin). Each method is
 * one call: build the request, parse the answer into a model.
 */

import * as E from './endpoints.js';
import {
  type Cifer, type CiferPage, type Delivery, type PublicKey, type Revocation, type Rotation, type Webhook,
  type WebhookDeletion, type WebhookPage, cifer, ciferPage, deliveries, publicKey, revocation, rotation, webhook,
  webhookDeletion, webhookPage,
} from './models.js';
import type { Transport } from './transport.js';
import type { AeadName } from './envelope/aead.js';

/** The seed's policy object, plus CIFER's own fields. */
export interface CiferPolicy {
  auto_rotate_days?: number;
  allowed_operations?: string[];
  allowed_principals?: string[];
  re_encryption_window_days?: number;
  /** Per-principal limits on top of the service's, e.g. `{ decrypt: '100/60' }` (count/seconds). */
  rate_limits?: Record<string, string>;
  [field: string]: unknown;
}

export interface CreateCiferParams {
  name?: string;
  description?: string;
  /** ML-KEM-768 (the default), ML-KEM-1024 or X-Wing. */
  algorithm?: 'ML-KEM-768' | 'ML-KEM-1024' | 'X-Wing';
  /** The payload AEAD of its envelopes (CIFER's extension): AES-256-GCM (the default) or ChaCha20-Poly1305. */
  aead?: AeadName;
  metadata?: Record<string, string>;
  policy?: CiferPolicy;
  /** Sent as X-Idempotency-Key (else a random one per call): a create repeated with it makes one CIFER. */
  idempotencyKey?: string;
}

export interface UpdateCiferParams {
  name?: string;
  description?: string;
  /** Replaces the whole map. */
  metadata?: Record<string, string>;
  /** Replaces the whole policy; a new `auto_rotate_days` moves the next rotation. */
  policy?: CiferPolicy;
  idempotencyKey?: string;
}

export interface ListParams {
  limit?: number;
  cursor?: string;
}

/** The fields of `params` that are set, and never the idempotency key (it is a header). */
function given(params: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([name, value]) => value !== undefined && name !== 'idempotencyKey'));
}

function page(params: ListParams, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { limit: String(params.limit ?? 20), cursor: params.cursor, ...extra };
}

/** `/v1/cifers`: seed §4.1, §4.2, §4.5, §4.6, and the list and update. */
export class Cifers {
  constructor(private readonly transport: Transport) {}

  async create(params: CreateCiferParams = {}): Promise<Cifer> {
    return cifer(await this.transport.call(E.CREATE_CIFER, E.pathOf(E.CREATE_CIFER), {
      json: given(params), idempotencyKey: params.idempotencyKey,
    }));
  }

  async get(ciferId: string): Promise<Cifer> {
    return cifer(await this.transport.call(E.GET_CIFER, E.pathOf(E.GET_CIFER, { cifer_id: ciferId })));
  }

  /** One page, ordered by id; `status` is `active` or `revoked`. */
  async list(params: ListParams & { status?: 'active' | 'revoked' } = {}): Promise<CiferPage> {
    return ciferPage(await this.transport.call(E.LIST_CIFERS, E.pathOf(E.LIST_CIFERS), {
      query: page(params, { status: params.status }),
    }));
  }

  /** Change what is given; the owner or an admin. */
  async update(ciferId: string, params: UpdateCiferParams): Promise<Cifer> {
    return cifer(await this.transport.call(E.UPDATE_CIFER, E.pathOf(E.UPDATE_CIFER, { cifer_id: ciferId }), {
      json: given(params), idempotencyKey: params.idempotencyKey,
    }));
  }

  /** A new key version; the old one still decrypts for `reEncryptionWindowDays` (else the policy's, else the server's default). */
  async rotate(ciferId: string, params: { reEncryptionWindowDays?: number; reason?: string; idempotencyKey?: string } = {}): Promise<Rotation> {
    const body = given({ re_encryption_window_days: params.reEncryptionWindowDays, reason: params.reason });
    return rotation(await this.transport.call(E.ROTATE_CIFER, E.pathOf(E.ROTATE_CIFER, { cifer_id: ciferId }), {
      json: body, idempotencyKey: params.idempotencyKey,
    }));
  }

  /** Irreversible: everything sealed to this CIFER becomes unreadable. Calling it is the confirmation (X-Confirm-Revocation). */
  async revoke(ciferId: string): Promise<Revocation> {
    return revocation(await this.transport.call(E.REVOKE_CIFER, E.pathOf(E.REVOKE_CIFER, { cifer_id: ciferId }), {
      headers: { 'X-Confirm-Revocation': 'true' },
    }));
  }
}

/** `/v1/keys`: seed §4.7. Public keys are public: no credential is needed. */
export class Keys {
  constructor(private readonly transport: Transport) {}

  async get(ciferId: string): Promise<PublicKey> {
    return publicKey(await this.transport.call(E.GET_PUBLIC_KEY, E.pathOf(E.GET_PUBLIC_KEY, { cifer_id: ciferId })));
  }
}

export interface CreateWebhookParams {
  url: string;
  events: string[];
  /** 16 to 256 characters; deliveries are signed with it and the server never shows it again. */
  secret: string;
  /** Only events about these CIFERs (at most 1000); absent: every CIFER of the caller. */
  ciferIds?: string[];
  idempotencyKey?: string;
}

export interface UpdateWebhookParams {
  url?: string;
  events?: string[];
  secret?: string;
  /** `null` removes the filter (every CIFER again); absent keeps it. */
  ciferIds?: string[] | null;
  idempotencyKey?: string;
}

/** `/v1/webhooks`: seed §7.4 (register), plus list, read, update, delete and deliveries. */
export class Webhooks {
  constructor(private readonly transport: Transport) {}

  async create(params: CreateWebhookParams): Promise<Webhook> {
    const body = given({ url: params.url, events: params.events, secret: params.secret, cifer_ids: params.ciferIds });
    return webhook(await this.transport.call(E.CREATE_WEBHOOK, E.pathOf(E.CREATE_WEBHOOK), {
      json: body, idempotencyKey: params.idempotencyKey,
    }));
  }

  async update(webhookId: string, params: UpdateWebhookParams): Promise<Webhook> {
    const body = given({ url: params.url, events: params.events, secret: params.secret });
    if (params.ciferIds !== undefined) body['cifer_ids'] = params.ciferIds;
    return webhook(await this.transport.call(E.UPDATE_WEBHOOK, E.pathOf(E.UPDATE_WEBHOOK, { webhook_id: webhookId }), {
      json: body, idempotencyKey: params.idempotencyKey,
    }));
  }

  async list(params: ListParams = {}): Promise<WebhookPage> {
    return webhookPage(await this.transport.call(E.LIST_WEBHOOKS, E.pathOf(E.LIST_WEBHOOKS), { query: page(params) }));
  }

  async get(webhookId: string): Promise<Webhook> {
    return webhook(await this.transport.call(E.GET_WEBHOOK, E.pathOf(E.GET_WEBHOOK, { webhook_id: webhookId })));
  }

  async delete(webhookId: string): Promise<WebhookDeletion> {
    return webhookDeletion(await this.transport.call(E.DELETE_WEBHOOK, E.pathOf(E.DELETE_WEBHOOK, { webhook_id: webhookId })));
  }

  /** The latest deliveries to this webhook, newest first. */
  async deliveries(webhookId: string, params: { limit?: number } = {}): Promise<Delivery[]> {
    return deliveries(await this.transport.call(E.LIST_DELIVERIES, E.pathOf(E.LIST_DELIVERIES, { webhook_id: webhookId }), {
      query: { limit: String(params.limit ?? 20) },
    }));
  }
}
