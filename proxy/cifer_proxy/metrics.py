"""The sidecar's own metrics, beside the HTTP ones every CIFER service has (`cifer_` prefix)."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, Counter


@dataclasses.dataclass(frozen=True)
class SidecarMetrics:
    bytes_encrypted: Counter
    bytes_decrypted: Counter
    public_key_lookups: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SidecarMetrics:
        return cls(
            bytes_encrypted=Counter("cifer_bytes_encrypted", "Plaintext bytes encrypted", registry=registry),
            bytes_decrypted=Counter("cifer_bytes_decrypted", "Plaintext bytes decrypted and verified", registry=registry),
            public_key_lookups=Counter("cifer_public_key_cache_lookups", "Public-key cache lookups by result (hit, miss)",
                                       ["result"], registry=registry),
        )
