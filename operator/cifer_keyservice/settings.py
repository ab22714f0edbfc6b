"""Settings of the key service, each with its unit and its reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cifer.keystore.config import KekSettings

SCOPES = frozenset({"cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt", "admin"})  # seed §3.4


@dataclasses.dataclass(frozen=True)
class TokenReviewSettings:
    """How to ask the Kubernetes API server about a ServiceAccount token (TokenReview)."""

    api_url: str | None = None
    """The API server; None means in the cluster (KUBERNETES_SERVICE_HOST and the pod's own token and CA)."""
    reviewer_token_file: Path | None = None
    """The key service's own token (RBAC: system:auth-delegator), reread as the kubelet rotates it."""
    ca_file: str | None = None
    """CA bundle of the API server's certificate."""
    insecure_skip_tls_verify: bool = False
    """Tests against a local API server only."""
    audience: str = "cifer"
    """The audience a sidecar's projected token must be minted for."""


@dataclasses.dataclass(frozen=True)
class KeyServiceSettings:
    database_url: str
    """SQLAlchemy DSN: SQLite (`sqlite:///path`) or PostgreSQL (`postgresql://...`)."""
    kek: KekSettings
    """The KEK that wraps every private seed: a PKCS#11 token in production."""
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
    token_review: TokenReviewSettings | None = None
    """Accept ServiceAccount tokens checked by this API server; None: API keys only."""
