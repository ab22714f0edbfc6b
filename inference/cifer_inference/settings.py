"""Settings of the inference service, each with its unit and its reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cifer.fhe.params import SUPPORTED_DEGREES
from cifer.settings import limit_overrides, setting
from cifer.tls import ServerTlsSettings

MiB = 1024 * 1024


def _mib(text: str) -> int:
    return int(text) * MiB


def _in_mib(size_bytes: int) -> list[str]:
    return [str(size_bytes // MiB)]


def _shipped_models() -> Path:
    from cifer.fhe.models import DEFAULT_MODELS_DIR  # numpy: only when the service runs
    return DEFAULT_MODELS_DIR


@dataclasses.dataclass(frozen=True)
class SlidingWindow:
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

    models: SlidingWindow = SlidingWindow(100, 60)
    """GET /v1/models, per client address."""
    register: SlidingWindow = SlidingWindow(10, 60)
    """POST /v1/keys/register, per client address."""
    infer: SlidingWindow = SlidingWindow(60, 60)
    """POST /v1/infer, per session (a batch counts once, however many inputs it packs)."""


RATE_CATEGORIES = tuple(f.name for f in dataclasses.fields(RateLimits))


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
    host: str = setting("--host", default="127.0.0.1")
    """Address to listen on (0.0.0.0 in a container)."""
    port: int = setting("--port", default=8000)
    """The seed's base URL, http://localhost:8000."""
    tls: ServerTlsSettings | None = None
    """Serve HTTPS with this certificate (`--tls-cert-file` and `--tls-key-file`), reloaded when
    its files are replaced; None: plain HTTP (the seed's localhost)."""
    models_dir: Path = setting("--models", default_factory=_shipped_models, metavar="DIR")
    """The model registry: a directory of weight files written by scripts/train-fhe-models
    (default: the models shipped with CIFER)."""
    session_ttl_s: float = setting("--session-ttl", default=3600.0, metavar="SECONDS")
    """A session unused this long is forgotten with its keys; its client registers again."""
    max_sessions: int = setting("--max-sessions", default=64)
    """Most sessions held at once; a registration beyond it is answered 503 with Retry-After."""
    max_sessions_bytes: int = setting("--max-sessions-mib", default=2048 * MiB, parse=_mib, show=_in_mib,
                                      metavar="MIB")
    """Most memory all sessions' evaluation keys may take together (a TenSEAL client's full set
    of Galois keys takes 30-60 MiB at poly_modulus_degree 8192, FHEClient's about 18 MiB)."""
    max_register_body_bytes: int = setting("--max-register-body-mib", default=128 * MiB, parse=_mib, show=_in_mib,
                                           metavar="MIB")
    """Largest registration body: a TenSEAL context with every Galois key at degree 8192, in
    base64, sent twice (context_b64 and eval_keys_b64 the same bytes), fits."""
    max_infer_body_bytes: int = 8 * MiB
    """Largest inference body (one ciphertext at degree 16384 is about 1.3 MiB in base64)."""
    max_concurrent_evaluations: int = setting("--max-concurrent-evaluations", default=1, metavar="N")
    """Evaluations running at once, in threads. TenSEAL's SEAL bindings hold the GIL, so more
    than one only interleaves them; scale out with replicas."""
    max_pending_evaluations: int = 32
    """Evaluations waiting for a thread; beyond them a request is answered 503 with Retry-After."""
    plaintext_cache_bytes: int = 256 * MiB
    """Encoded model weights kept per parameter set, level, scale and layout (shared by sessions)."""
    poly_modulus_degrees: tuple[int, ...] = SUPPORTED_DEGREES
    """Ring dimensions accepted."""
    rate_limits: RateLimits | None = setting("--rate-limit", default=RateLimits(), none_flag="--no-rate-limits",
                                             none_help="count nothing (benchmarks)",
                                             **limit_overrides(RateLimits, SlidingWindow))
    """Seed 004's table; None turns rate limiting off (benchmarks)."""
