"""Settings of the inference service, each with its unit and its reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cifer.fhe.models import DEFAULT_MODELS_DIR
from cifer.fhe.params import SUPPORTED_DEGREES

MiB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """At most `limit` requests in any `window_s` seconds (a sliding window)."""

    limit: int
    window_s: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_s <= 0:
            raise ValueError(f"a rate limit needs a positive limit and window, not {self.limit}/{self.window_s} s")


@dataclasses.dataclass(frozen=True)
class RateLimits:
    """Seed 004's table ("Rate Limits"), counted in this process: a replica counts its own
    clients, and a session lives on one replica anyway. Health checks are never limited."""

    models: RateLimit = RateLimit(100, 60)
    """GET /v1/models, per client address."""
    register: RateLimit = RateLimit(10, 60)
    """POST /v1/keys/register, per client address."""
    infer: RateLimit = RateLimit(60, 60)
    """POST /v1/infer, per session (a batch counts once, however many inputs it packs)."""


RATE_CATEGORIES = tuple(f.name for f in dataclasses.fields(RateLimits))


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
    host: str = "127.0.0.1"
    """Address to listen on (0.0.0.0 in a container)."""
    port: int = 8000
    """The seed's base URL, http://localhost:8000."""
    models_dir: Path = DEFAULT_MODELS_DIR
    """The model registry: a directory of weight files written by scripts/train-fhe-models."""
    session_ttl_s: float = 3600.0
    """A session unused this long is forgotten with its keys; its client registers again."""
    max_sessions: int = 64
    """Most sessions held at once; a registration beyond it is answered 503 with Retry-After."""
    max_sessions_bytes: int = 2048 * MiB
    """Most memory all sessions' evaluation keys may take together (a TenSEAL client's full set
    of Galois keys takes 30-60 MiB at poly_modulus_degree 8192, FHEClient's about 18 MiB)."""
    max_register_body_bytes: int = 128 * MiB
    """Largest registration body: a TenSEAL context with every Galois key at degree 8192, in
    base64, sent twice (context_b64 and eval_keys_b64 the same bytes), fits."""
    max_infer_body_bytes: int = 8 * MiB
    """Largest inference body (one ciphertext at degree 16384 is about 1.3 MiB in base64)."""
    max_concurrent_evaluations: int = 1
    """Evaluations running at once, in threads. TenSEAL's SEAL bindings hold the GIL, so more
    than one only interleaves them; scale out with replicas."""
    max_pending_evaluations: int = 32
    """Evaluations waiting for a thread; beyond them a request is answered 503 with Retry-After."""
    plaintext_cache_bytes: int = 256 * MiB
    """Encoded model weights kept per parameter set, level, scale and layout (shared by sessions)."""
    poly_modulus_degrees: tuple[int, ...] = SUPPORTED_DEGREES
    """Ring dimensions accepted."""
    rate_limits: RateLimits | None = RateLimits()
    """None turns rate limiting off (benchmarks)."""
