"""The key service's own metrics, beside the HTTP ones every CIFER service has."""

from __future__ import annotations

import dataclasses
import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from cifer.keystore.kek import ClosesOnExit, Kek

HSM_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


@dataclasses.dataclass(frozen=True)
class ServiceMetrics:
    decrypts: Counter
    hsm_seconds: Histogram
    audit_failures: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ServiceMetrics:
        return cls(
            decrypts=Counter("cifer_decrypts", "Decapsulated headers by outcome (success, denied, failure)",
                             ["outcome"], registry=registry),
            hsm_seconds=Histogram("cifer_hsm_operation_seconds", "Latency of KEK operations on the HSM",
                                  ["operation"], buckets=HSM_BUCKETS_S, registry=registry),
            audit_failures=Counter("cifer_audit_write_failures", "Audit records that could not be written",
                                   registry=registry),
        )


class MeasuredKek(ClosesOnExit):
    """A KEK whose wrap and unwrap calls are timed; everything else is the KEK's own."""

    def __init__(self, kek: Kek, seconds: Histogram) -> None:
        self._kek = kek
        self._wrap = seconds.labels("wrap")
        self._unwrap = seconds.labels("unwrap")

    @property
    def kek_id(self) -> str:
        return self._kek.kek_id

    def wrap(self, secret: bytes) -> bytes:
        started = time.perf_counter()
        try:
            return self._kek.wrap(secret)
        finally:
            self._wrap.observe(time.perf_counter() - started)

    def unwrap(self, wrapped: bytes) -> bytes:
        started = time.perf_counter()
        try:
            return self._kek.unwrap(wrapped)
        finally:
            self._unwrap.observe(time.perf_counter() - started)

    def close(self) -> None:
        self._kek.close()
