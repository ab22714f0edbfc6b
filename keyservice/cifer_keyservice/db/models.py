"""The key service's tables. Alembic migrations in `db/migrations` create them; these
classes are how the service reads and writes them."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from cifer_keyservice.db.json_text import json_text


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in and out on every database (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("internal error: naive datetime written to the database")
        return value.astimezone(datetime.UTC)

    def process_result_value(self, value: datetime.datetime | None, dialect) -> datetime.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value.astimezone(datetime.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime.datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Cifer(Base):
    """One encryption identity: its versions hold the key material."""

    __tablename__ = "cifers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)  # seed 001 finds a user's key by name
    description: Mapped[str] = mapped_column(Text, default="")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner_id: Mapped[str] = mapped_column(String(255), index=True)
    suite: Mapped[str] = mapped_column(String(32))  # the suite's name, e.g. "ML-KEM-768"
    aead: Mapped[str] = mapped_column(String(32), default="AES-256-GCM")  # the payload AEAD of its envelopes
    expires_at: Mapped[datetime.datetime | None]  # after it: decrypts, no longer encrypts (status `expired`)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | revoked
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]
    revoked_at: Mapped[datetime.datetime | None]
    next_rotation_at: Mapped[datetime.datetime | None] = mapped_column(index=True)
    expiring_notified_for: Mapped[int | None]  # the version whose `cifer.expiring` was sent
    # Usage statistics (data-protection seed, monitoring). Encryptions are the sidecars' reports (usage.py).
    encryptions: Mapped[int] = mapped_column(BigInteger, default=0)
    encrypted_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    decryptions: Mapped[int] = mapped_column(BigInteger, default=0)
    decrypt_failures: Mapped[int] = mapped_column(BigInteger, default=0)
    last_used_at: Mapped[datetime.datetime | None]

    versions: Mapped[list[CiferVersion]] = relationship(
        back_populates="cifer", order_by="CiferVersion.version", lazy="raise"
    )


class CiferVersion(Base):
    """One key pair of a cifer; the private seed only as the KEK wrapped it."""

    __tablename__ = "cifer_versions"

    cifer_id: Mapped[str] = mapped_column(ForeignKey("cifers.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_seed: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))  # active | decrypt_only | retired
    created_at: Mapped[datetime.datetime]
    decrypt_until: Mapped[datetime.datetime | None]  # the re-encryption deadline of a decrypt_only version
    retired_at: Mapped[datetime.datetime | None]

    cifer: Mapped[Cifer] = relationship(back_populates="versions", lazy="raise")


class ApiKey(Base):
    """An API key, known only by its SHA-256; the key itself was shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "ak_..." names it in lists and logs
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    hint: Mapped[str] = mapped_column(String(16))  # "sk_live_ab12": enough to recognise, not to use
    owner_id: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime.datetime]
    revoked_at: Mapped[datetime.datetime | None]


class AuditRecord(Base):
    """Append-only and chained: `hash` is an HMAC (under the `audit` service key, which only the
    KEK can unwrap) of this record's fields and `prev_hash`, so no edit, insertion or deletion
    can be made consistent without the HSM. `seq` is assigned 1, 2, 3... under the append lock."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime.datetime] = mapped_column(index=True)
    principal: Mapped[str] = mapped_column(String(255), index=True)
    operation: Mapped[str] = mapped_column(String(32))  # no index: five values, and an index misleads planners
    cifer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    key_version: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(16))  # success | denied | failure; no index, as `operation`
    request_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(255))  # the peer address
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # two appends cannot fork the chain
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The newest record's seq and hash, MACed: a deleted tail cannot pass for the whole log."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(255), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(default=list)
    # Only events about these cifers are delivered; NULL: about every cifer of the owner.
    cifer_ids: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    encrypted_secret: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM under the `webhooks` service key
    created_at: Mapped[datetime.datetime]
    deleted_at: Mapped[datetime.datetime | None]


class ServiceKey(Base):
    """The service's own symmetric keys (audit MAC, webhook secrets), at rest only wrapped by the KEK."""

    __tablename__ = "service_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime.datetime]


class OutboxEvent(Base):
    """An event, written in the same transaction as the change it reports: a crash loses none."""

    __tablename__ = "outbox_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "evt_..."
    type: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str] = mapped_column(String(255), index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime.datetime]


class Delivery(Base):
    """One event to one webhook: retried with backoff until delivered or given up."""

    __tablename__ = "deliveries"

    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id"), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime.datetime] = mapped_column(index=True)
    last_error: Mapped[str | None] = mapped_column(String(255))
    delivered_at: Mapped[datetime.datetime | None]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime.datetime] = mapped_column(index=True)


class UsageReport(Base):
    """A sidecar's usage report, counted: the same (principal, report_id) again is a retry, not new usage."""

    __tablename__ = "usage_reports"

    principal: Mapped[str] = mapped_column(String(255), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime.datetime] = mapped_column(index=True)


class RateLimitWindow(Base):
    """Requests of one principal in one category in one fixed window, or of one principal with
    one cifer (category `CATEGORY:CIFER_ID`, the cifer's own limit); shared by all replicas."""

    __tablename__ = "rate_limit_windows"

    principal: Mapped[str] = mapped_column(String(255), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)  # `decrypt`, `workload_decrypt:cif_...`
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix seconds
    count: Mapped[int] = mapped_column(Integer)
    exceeded_notified: Mapped[bool] = mapped_column(default=False)


class SecurityAlert(Base):
    """A finding of a detector (security_alerts.py): stored, announced as `security.alert`, and open
    until someone resolves it. `open_key` names what it is about while it is open, so a detector that
    sees the same thing again adds to the open alert instead of raising another; resolving clears it."""

    __tablename__ = "security_alerts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "alt_..."
    detector: Mapped[str] = mapped_column(String(32))  # repeated_failures | high_volume | new_principal | rotation_overdue
    type: Mapped[str] = mapped_column(String(32))  # seed 001's SecurityAlert.type
    severity: Mapped[str] = mapped_column(String(16))
    cifer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    principal: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    affected_operations: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[datetime.datetime]  # the span of the activity it is about
    last_at: Mapped[datetime.datetime]
    created_at: Mapped[datetime.datetime] = mapped_column(index=True)
    open_key: Mapped[str | None] = mapped_column(String(400), unique=True)  # NULL once resolved
    resolved_at: Mapped[datetime.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    resolution: Mapped[str | None] = mapped_column(Text)


class SecurityReport(Base):
    """A generated report's file (CSV or PDF), served at its signed URL until `expires_at`."""

    __tablename__ = "security_reports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "rpt_..."
    owner_id: Mapped[str] = mapped_column(String(255))
    report_type: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8))  # csv | pdf
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime.datetime]
    expires_at: Mapped[datetime.datetime] = mapped_column(index=True)


class SecurityConfig(Base):
    """The encryption configuration of seed 001 (`PUT /api/security/config/encryption`): one row."""

    __tablename__ = "security_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    config_id: Mapped[str] = mapped_column(String(40))  # "cfg_...", new at every change
    settings: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime.datetime]
    updated_by: Mapped[str] = mapped_column(String(255))


class OAuthUser(Base):
    """A user of the local user store (OAuth 2.0's login page), for teams without an identity provider."""

    __tablename__ = "oauth_users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "usr_...": the principal its tokens name
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    scopes: Mapped[list[str]] = mapped_column(default=list)  # the most its tokens may carry
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # since the last success or lockout
    locked_until: Mapped[datetime.datetime | None]
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]


class OAuthClient(Base):
    """An application that may ask for tokens; a confidential one's secret known only by its SHA-256."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "cli_..."
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))  # None: a public client (PKCE only)
    redirect_uris: Mapped[list[str]] = mapped_column(default=list)  # matched exactly
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime.datetime]
    disabled_at: Mapped[datetime.datetime | None]


class OAuthGrant(Base):
    """One grant: what a code, or a client's credentials, started. Every token it issued names it
    (`sid` in an access token, `grant_id` of a refresh token); revoking it ends them all."""

    __tablename__ = "oauth_grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "grt_..."
    client_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(40))  # None: client_credentials
    scope: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime.datetime]
    expires_at: Mapped[datetime.datetime] = mapped_column(index=True)  # its last token's end: then forgotten
    revoked_at: Mapped[datetime.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class OAuthCode(Base):
    """An authorization code, known by its SHA-256, used once."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(40))
    client_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(512))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    auth_time: Mapped[datetime.datetime]
    expires_at: Mapped[datetime.datetime] = mapped_column(index=True)
    used_at: Mapped[datetime.datetime | None]


class OAuthRefreshToken(Base):
    """An opaque refresh token, known by its SHA-256; rotated at each use (`rotated_at`). One used
    again after its rotation revokes its whole grant."""

    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(40), index=True)
    client_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(512))
    issued_at: Mapped[datetime.datetime]
    expires_at: Mapped[datetime.datetime] = mapped_column(index=True)
    rotated_at: Mapped[datetime.datetime | None]


class OAuthConsent(Base):
    """A user's consent to a client for one set of scopes (space-joined, sorted): not asked again."""

    __tablename__ = "oauth_consents"

    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(512), primary_key=True)
    created_at: Mapped[datetime.datetime]


class OAuthSession(Base):
    """A login on the authorization server's pages (its cookie holds the id; this, its SHA-256)."""

    __tablename__ = "oauth_sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime.datetime]
    expires_at: Mapped[datetime.datetime] = mapped_column(index=True)


class OAuthSigningKey(Base):
    """A key that signs access tokens: its private half only wrapped by the KEK. It signs until
    `retired_at`, and stays in the JWKS until `expires_at` (past every token it signed)."""

    __tablename__ = "oauth_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    wrapped_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime.datetime]
    retired_at: Mapped[datetime.datetime | None]
    expires_at: Mapped[datetime.datetime | None]


Index("ix_deliveries_due", Delivery.status, Delivery.next_attempt_at)
# A key's usage over a period (seed 001's usage and reports) reads one range of this index.
Index("ix_audit_log_cifer_at", AuditRecord.cifer_id, AuditRecord.at)
# The encryption audit by user or data type (activity.USER_ID, activity.DATA_TYPE: the same expressions).
EXPRESSION_INDEXES = {"ix_audit_log_user_id": "user_id", "ix_audit_log_data_type": "data_type"}
for _name, _key in EXPRESSION_INDEXES.items():
    Index(_name, json_text(AuditRecord.details, _key))
