"""Settings of the key service, each with its unit and its reason."""

from __future__ import annotations

import dataclasses

from cifer.keystore.config import KekSettings

SCOPES = frozenset({"cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt", "admin"})  # seed §3.4


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
