"""Settings of the key service, each with its unit and its reason."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cifer.api.schemas import MAX_PRINCIPAL_CHARS
from cifer.keystore.config import KekSettings
from cifer.settings import limit_overrides, setting
from cifer.tls import ServerTlsSettings

SCOPES = frozenset({"cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt", "admin"})  # seed §3.4


@dataclasses.dataclass(frozen=True)
class TokenReviewSettings:
    """How to ask the Kubernetes API server about a ServiceAccount token (TokenReview)."""

    api_url: str | None = setting("--kube-api-url", default=None)
    """The API server (outside a cluster); None means in the cluster (KUBERNETES_SERVICE_HOST and
    the pod's own token and CA)."""
    reviewer_token_file: Path | None = setting("--kube-reviewer-token-file", default=None)
    """The key service's own token (RBAC: system:auth-delegator), reread as the kubelet rotates it."""
    ca_file: str | None = setting("--kube-ca-file", default=None)
    """CA bundle of the API server's certificate."""
    insecure_skip_tls_verify: bool = setting("--kube-insecure-skip-tls-verify", default=False)
    """Tests against a local API server only."""
    audience: str = "cifer"
    """The audience a sidecar's projected token must be minted for."""


@dataclasses.dataclass(frozen=True)
class OidcSettings:
    """Accept an identity provider's JWTs, verified against its JWKS (auth/oidc.py)."""

    issuer: str = setting("--oidc-issuer")
    """The provider's `iss`, exactly as in its tokens; a bearer token claiming it is checked only here."""
    audience: str = setting("--oidc-audience")
    """The audience the provider mints CIFER's tokens for; a token's `aud` must contain it."""
    jwks_url: str = setting("--oidc-jwks-url")
    """The provider's JWKS (`jwks_uri` of its discovery document); https, http only on loopback."""
    ca_file: str | None = setting("--oidc-ca-file", default=None)
    """CA bundle of the JWKS endpoint's certificate; None: the system's trust store."""
    jwks_cache_ttl_s: float = 300.0
    """How long a fetched JWKS is used before it is fetched again (a removed key lives this long)."""
    jwks_refetch_min_interval_s: float = 30.0
    """Least time between two fetches when tokens name unknown kids (a rotation, or a flood of made-up kids)."""


@dataclasses.dataclass(frozen=True)
class FixedWindow:
    """At most `limit` requests in each fixed window of `window_s` seconds (windows start at
    multiples of `window_s` since the Unix epoch, so every replica agrees on them)."""

    limit: int
    window_s: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_s < 1:
            raise ValueError(f"a rate limit needs a positive limit and window, not {self.limit}/{self.window_s} s")


@dataclasses.dataclass(frozen=True)
class RateLimits:
    """Seed §8.1's limits, per principal and category, counted by all replicas together
    (`cifer_keyservice.ratelimit`); `--rate-limit CATEGORY=LIMIT/WINDOW_S` overrides one.
    A `workload_` category replaces its seed category for workload identities (ServiceAccounts).
    A cifer's `policy.rate_limits` adds limits of its own on top, per principal (`ratelimit.py`)."""

    create: FixedWindow = FixedWindow(10, 3600)
    """POST /v1/cifers."""
    encrypt: FixedWindow = FixedWindow(1000, 60)
    """GET /v1/keys/{cifer_id}, the public key fetched to encrypt; unauthenticated, so per peer address."""
    decrypt: FixedWindow = FixedWindow(100, 60)
    """POST /v1/decapsulate (each header of a batch counts one) and POST /v1/rewrap."""
    get: FixedWindow = FixedWindow(1000, 60)
    """GET /v1/cifers and GET /v1/cifers/{cifer_id}."""
    rotate: FixedWindow = FixedWindow(10, 86400)
    """POST /v1/cifers/{cifer_id}/rotate."""
    login: FixedWindow = FixedWindow(20, 300)
    """POST /oauth/authorize, the login and consent forms; unauthenticated, so per peer address
    (each account also locks after `oauth_lockout_after` failed passwords)."""
    workload_decrypt: FixedWindow = FixedWindow(60000, 60)
    """`decrypt` for workload identities (a pod's ServiceAccount, through its sidecar) in place of
    the seed's 100 per minute, which is sized for API keys and OAuth clients: every decrypt of a
    pod takes this path. 60,000 per minute (1,000 headers/s) is about half of what one key-service
    replica measured (bench/keyservice.py over TLS on 2 cores, 2026-12-05: ~1,950 headers/s in
    batches, the way sidecars coalesce their decrypts, on SQLite and on PostgreSQL; 500-700/s one
    header per request), so one busy pod cannot take a whole replica. It counts across all
    replicas: raise it with the replica count."""
    redis_key_prefix: str = "cifer:ratelimit:"
    """Prefix of the counters' keys in Redis: one per deployment sharing a Redis."""
    redis_policy_cache_s: float = 5.0
    """With counters in Redis, how long a replica remembers a cifer's own limits
    (`policy.rate_limits`) before reading them again: a changed limit holds everywhere within this
    long. The database store reads them in the transaction that counts, so at once."""


def _principal(name: str) -> str:
    if not name or len(name) > MAX_PRINCIPAL_CHARS or not name.isprintable() or name != name.strip():
        raise argparse.ArgumentTypeError(f"{name!r} is not a principal name (1 to {MAX_PRINCIPAL_CHARS} "
                         "printable characters, e.g. system:serviceaccount:NS:NAME)")
    return name


@dataclasses.dataclass(frozen=True)
class KeyServiceSettings:
    database_url: str = setting("--database-url", env="CIFER_DATABASE_URL")
    """SQLAlchemy DSN: SQLite (`sqlite:///path`) or PostgreSQL (`postgresql://...`); `cifer
    keyservice` takes SQLite in the data directory when none is named."""
    kek: KekSettings
    """The KEK that wraps every private seed: a PKCS#11 token in production."""
    host: str = setting("--host", default="127.0.0.1")
    """Address to listen on (`serve`)."""
    port: int = setting("--port", default=8081)
    """Port to listen on (`serve`)."""
    tls: ServerTlsSettings | None = None
    """Serve HTTPS with this certificate, reloaded when its files are replaced (`serve`,
    `--tls-cert-file` and `--tls-key-file`); None: plain HTTP, for loopback (`cifer dev`, tests)
    only: sidecars refuse a plain key-service URL off loopback."""
    default_suite: str = "ML-KEM-768"
    """The KEM of new cifers unless a request names another (the seed's algorithm)."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body read; a batch of 64 ML-KEM-1024 headers is about 500 KiB in base64."""
    max_batch_headers: int = 256
    """Most envelope headers one decapsulation request may carry."""
    default_re_encryption_window_days: int = 30
    """How long a rotated-out version stays decrypt-only when the request names no window."""
    serviceaccount_scopes: frozenset[str] = frozenset({"cifer:read", "encrypt", "decrypt"})
    """Scopes of a caller proven by a Kubernetes ServiceAccount token (a sidecar)."""
    admin_principals: frozenset[str] = setting("--admin-principal", default=frozenset(), parse=_principal,
                                               metavar="NAME")
    """Principals granted the admin scope whatever their kind, and never rate-limited: the control
    plane, e.g. the operator's ServiceAccount `system:serviceaccount:cifer-system:cifer-operator`."""
    rotation_check_interval_s: float = 60.0
    """How often the scheduler looks for keys due for rotation, notice or retirement."""
    expiring_notice_days: int = 7
    """How long before a scheduled rotation `cifer.expiring` is sent."""
    alert_scan_interval_s: float = setting("--alert-scan-interval-s", default=60.0)
    """How often the security detectors scan the audit log (security_alerts.py); the usage, report
    and health answers also scan before they answer."""
    report_ttl_s: int = setting("--report-ttl-s", default=86400)
    """How long a generated report's file is kept and its download URL works."""
    alert_window_s: float = setting("--alert-window-s", default=900.0)
    """How far back a scan looks: repeated failures must fall within this long to raise an alert."""
    webhook_backoff_base_s: float = 1.0
    """Wait before a failed webhook delivery's first retry; it doubles each time, up to an hour."""
    webhook_poll_interval_s: float = 1.0
    """How often the webhook dispatcher looks for deliveries due (how late an event may arrive)."""
    webhook_allow_private_networks: bool = setting("--webhook-allow-private-networks", default=False)
    """Deliver to loopback, private and link-local addresses too. Off: a webhook cannot reach
    into the cluster or a cloud metadata endpoint (SSRF); turn on only for in-cluster receivers."""
    token_review: TokenReviewSettings | None = setting("--kube-in-cluster", default=None)
    """Accept ServiceAccount tokens checked by an API server (`--kube-in-cluster`: the pod's own;
    or `--kube-api-url`); None: API keys only."""
    oidc: OidcSettings | None = None
    """Accept an identity provider's JWTs (principal `oidc:ISSUER#SUBJECT`); None: no OIDC."""
    oauth_issuer: str | None = setting("--oauth-issuer", default=None)
    """The URL of the OAuth 2.0 authorization server (docs/oauth.md): the `iss` of its access tokens
    and the base of the URLs its metadata names. None: the URL this service listens on
    (`http(s)://HOST:PORT`); behind an ingress, or in front of browsers, name the public one."""
    oauth_access_token_ttl_s: int = setting("--oauth-access-token-ttl-s", default=600)
    """How long an access token (a JWT, not revocable before it expires but by its grant) is valid."""
    oauth_refresh_token_ttl_s: int = setting("--oauth-refresh-token-ttl-s", default=30 * 86400)
    """How long a refresh token is valid; each use gives a new one for as long again."""
    oauth_code_ttl_s: int = 60
    """How long an authorization code may wait to be redeemed (RFC 6749 §4.1.2: at most 10 minutes)."""
    oauth_login_ttl_s: int = 3600
    """How long a login on the authorization page lasts (its cookie), so consents need no new one."""
    oauth_signing_key_rotation_s: int = setting("--oauth-signing-key-rotation-s", default=30 * 86400)
    """How long a key signs access tokens before a new one takes over; the old one stays in the JWKS
    until every token it signed has expired."""
    oauth_lockout_after: int = 5
    """Failed logins in a row that lock an account of the local user store."""
    oauth_lockout_s: int = 900
    """How long a locked account stays locked (an administrator's `user reset` unlocks it at once)."""
    rate_limits: RateLimits = setting("--rate-limit", default=RateLimits(), **limit_overrides(RateLimits, FixedWindow))
    """Seed §8.1's rate limits per principal and category."""
    redis_url: str | None = setting("--redis-url", env="CIFER_REDIS_URL", default=None)
    """Count rate limits in this Redis (`redis://host:6379/0`); None: in the database. Both are shared by replicas."""
    idempotency_ttl_s: int = 86400
    """How long a POST's or PATCH's response is kept for replay under its X-Idempotency-Key (seed §2.2)."""
    api_key_cache_s: float = 5.0
    """How long a verified API key's principal is remembered; a revoked key stops working within
    this long on every replica. 0: look every key up on every request."""
    seed_cache_ttl_s: float = setting("--seed-cache-ttl-s", default=300.0)
    """How long an unwrapped private seed stays in this replica's memory after the HSM unwrapped
    it, so that decrypts do not ask the HSM each time. Rotation and revocation drop a cifer's
    seeds at once in the replica that made them; other replicas drop theirs within this long (a
    revoked key is refused at once everywhere anyway: every decrypt reads the cifer's status).
    0: unwrap on every request."""
    seed_cache_size: int = setting("--seed-cache-size", default=1024)
    """Most key versions whose seeds are kept unwrapped (least recently used dropped first)."""
    audit_checkpoint_interval_s: float = setting("--audit-checkpoint-interval-s", default=60.0)
    """How often a MAC'd checkpoint (seq, hash) of the audit log's head is written outside the
    database when the log has grown (and once at shutdown): a rollback of the database is detected
    back to the last checkpoint kept (docs/audit.md)."""
    audit_prune_interval_s: float = setting("--audit-prune-interval-s", default=3600.0)
    """How often audit records past the configured retention are pruned (audit_retention.py); a
    change of the retention prunes at once."""
    audit_checkpoint_file: Path | None = setting("--audit-checkpoint-file", default=None)
    """Keep the latest audit checkpoint in this file (replaced atomically, mode 0600), for `audit
    verify --checkpoint`; best on storage the database's users cannot write. `cifer keyservice
    serve` takes `audit-checkpoint.json` in the data directory when none is named; None: none."""
    audit_checkpoint_events: bool = setting("--audit-checkpoint-events", default=False)
    """Post each audit checkpoint as a Kubernetes Event on the key service's pod (in a cluster:
    its ServiceAccount needs RBAC `create` on `events`; the chart grants it and turns this on)."""
    group_commit_max_wait_s: float = 0.0
    """How long the first write waiting for a group commit waits for others to join its
    transaction. 0: commit what is waiting at once; what arrives meanwhile forms the next group
    (one commit, one fsync, for all of it), which measured as well as waiting 1 ms."""
    group_commit_max_items: int = 256
    """Most requests' writes (audit records, usage and rate-limit counters) in one transaction."""
