"""Kubernetes ServiceAccount tokens, checked by the API server's TokenReview.

A sidecar proves which workload it speaks for with its pod's ServiceAccount token, minted for
the audience `cifer` (a projected token volume). The key service does not verify the JWT
itself: it asks the API server (`authentication.k8s.io/v1` TokenReview, the way kube-rbac-proxy
and the aggregated API servers do), which also checks that the ServiceAccount, and the pod the
token is bound to, still exist. The reviewer needs RBAC `create` on `tokenreviews`
(ClusterRole `system:auth-delegator`).

Three outcomes, kept apart so the service can answer each correctly:
- a username `system:serviceaccount:NS:NAME`: the API server vouches for the token, for `cifer`;
- None: the token is refused (bad, expired, another audience, a deleted ServiceAccount, not a
  ServiceAccount at all) -> 401;
- TokenReviewUnavailable: the API server could not be asked -> 503, never 401.

Answers are cached for a few seconds, keyed by the SHA-256 of the token; the token itself is
never stored, logged or put in an exception.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from cifer.api.credentials import MAX_TOKEN_CHARS

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKENREVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
CACHE_MAX_ENTRIES = 10_000
# The kubelet rotates a projected token file: reread it every minute, as client-go does.
REVIEWER_TOKEN_REREAD_S = 60.0

_MISS = object()


class TokenReviewUnavailable(Exception):
    """The API server could not review the token (unreachable, timed out, or not 2xx)."""


class TokenReviewer:
    """Asks the Kubernetes API server whether a token is a ServiceAccount's, for one audience."""

    def __init__(
        self,
        *,
        api_url: str,
        reviewer_token: str,
        ca_file: str | None,
        audience: str = "cifer",
        insecure_skip_tls_verify: bool = False,
        cache_ttl_s: float = 10.0,
        timeout_s: float = 5.0,
        reviewer_token_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`reviewer_token` is the key service's own credential (RBAC: create tokenreviews);
        `reviewer_token_file`, when given, is reread every minute (a rotated projected token).
        `clock` is monotonic seconds, for the cache's expiry."""
        self.api_url = api_url.rstrip("/")
        self.audience = audience
        self.cache_ttl_s = cache_ttl_s
        self.timeout_s = timeout_s
        self._ca_file = ca_file
        self._insecure = insecure_skip_tls_verify
        self._reviewer_token = reviewer_token
        self._reviewer_token_file = reviewer_token_file
        self._clock = clock
        self._reviewer_token_read_at = clock()
        self._session: aiohttp.ClientSession | None = None
        # sha256(token) -> (monotonic expiry, username or None); insertion order is expiry order.
        self._cache: dict[bytes, tuple[float, str | None]] = {}

    @classmethod
    def in_cluster(
        cls,
        *,
        service_account_dir: str | Path = SERVICE_ACCOUNT_DIR,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> TokenReviewer:
        """The reviewer for a key service running in a pod: the API server from
        KUBERNETES_SERVICE_HOST/PORT, the pod's own ServiceAccount token and the cluster CA."""
        env = os.environ if environ is None else environ
        host = env.get("KUBERNETES_SERVICE_HOST")
        port = env.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise RuntimeError(
                "not in a Kubernetes pod: "
                "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset"
            )
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        sa_dir = Path(service_account_dir)
        token_file = sa_dir / "token"
        return cls(
            api_url=f"https://{host}:{port}",
            reviewer_token=token_file.read_text().strip(),
            reviewer_token_file=str(token_file),
            ca_file=str(sa_dir / "ca.crt"),
            **options,
        )

    async def review(self, token: str) -> str | None:
        """The ServiceAccount username the token stands for, or None when it is refused.

        Raises TokenReviewUnavailable when the API server cannot be asked.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        key = hashlib.sha256(token.encode()).digest()
        cached = self._cache_get(key, self._clock())
        if cached is not _MISS:
            return cached  # type: ignore[return-value]
        username = await self._ask(token)
        self._cache_put(key, username, _expires_in(token, self.cache_ttl_s))
        return username

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> TokenReviewer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ the API server

    async def _ask(self, token: str) -> str | None:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": [self.audience]},
        }
        headers = {"Authorization": f"Bearer {self._current_reviewer_token()}"}
        url = self.api_url + TOKENREVIEW_PATH
        try:
            async with self._get_session().post(url, json=body, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    detail = _message(await resp.text()).replace(token, "[token]")[:300]
                    raise TokenReviewUnavailable(
                        f"TokenReview at {self.api_url} answered HTTP {resp.status}: {detail}"
                    )
                answer = await resp.json(content_type=None)
        except TokenReviewUnavailable:
            log.warning("token review unavailable: HTTP error from %s", self.api_url)
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            log.warning(
                "token review unavailable: %s reaching %s", type(exc).__name__, self.api_url
            )
            raise TokenReviewUnavailable(
                f"TokenReview at {self.api_url} failed: {type(exc).__name__}"
            ) from None
        status = answer.get("status") if isinstance(answer, dict) else None
        if not isinstance(status, dict):
            raise TokenReviewUnavailable(f"TokenReview at {self.api_url} answered without a status")
        return self._username(status)

    def _username(self, status: dict[str, Any]) -> str | None:
        if status.get("authenticated") is not True:
            return None
        audiences = status.get("audiences")
        if not isinstance(audiences, list) or self.audience not in audiences:
            return None
        user = status.get("user")
        username = user.get("username") if isinstance(user, dict) else None
        # Only ServiceAccounts: an audience-agnostic credential (a static or webhook token) is
        # authenticated for every audience the API server itself accepts, and must not pass here.
        if not isinstance(username, str) or not username.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = username[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
        if not namespace or not name or ":" in name:
            return None
        return username

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            tls: ssl.SSLContext | bool
            if self._insecure:
                tls = False
            else:
                tls = ssl.create_default_context(cafile=self._ca_file)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            )
        return self._session

    def _current_reviewer_token(self) -> str:
        now = self._clock()
        due = now - self._reviewer_token_read_at >= REVIEWER_TOKEN_REREAD_S
        if self._reviewer_token_file and due:
            try:
                self._reviewer_token = Path(self._reviewer_token_file).read_text().strip()
            except OSError:
                log.warning("could not reread the reviewer token file; keeping the previous token")
            self._reviewer_token_read_at = now
        return self._reviewer_token

    # ------------------------------------------------------------------ the cache

    def _cache_get(self, key: bytes, now: float) -> object:
        entry = self._cache.get(key)
        if entry is None:
            return _MISS
        expires, username = entry
        if expires <= now:
            del self._cache[key]
            return _MISS
        return username

    def _cache_put(self, key: bytes, username: str | None, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        now = self._clock()
        self._cache.pop(key, None)
        # Oldest first: drop what has expired, and the oldest while the cache is full.
        while self._cache:
            oldest = next(iter(self._cache))
            if self._cache[oldest][0] > now and len(self._cache) < CACHE_MAX_ENTRIES:
                break
            del self._cache[oldest]
        self._cache[key] = (now + ttl_s, username)


def _expires_in(token: str, ttl_s: float) -> float:
    """How long an answer about `token` may be cached: `ttl_s`, but never past the token's own
    `exp` (read unverified from the JWT: the API server has just checked it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
    except (IndexError, ValueError, UnicodeDecodeError):
        return ttl_s
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return min(ttl_s, exp - time.time())
    return ttl_s


def _message(detail: str) -> str:
    try:
        answer = json.loads(detail)
    except ValueError:
        return detail
    return str(answer.get("message", detail)) if isinstance(answer, dict) else detail
