"""Settings of the sidecar (`cifer proxy`), each with its unit and its reason.

They live in the core because they are the contract between the sidecar and whoever configures
it: `cifer proxy` reads them from its command line, the operator's injector writes them into the
pods it injects (`to_arguments`), and `cifer dev` builds them directly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cifer import keyrelease
from cifer.settings import setting

DEFAULT_TOKEN_FILE = Path("/var/run/secrets/cifer/token")  # a projected ServiceAccount token, audience `cifer`
DEFAULT_GRPC_PORT = 9090  # seed 000 §5's gRPC API, beside REST's 8080


@dataclasses.dataclass(frozen=True)
class SidecarSettings:
    keyservice_url: str = setting("--keyservice-url", env="CIFER_KEYSERVICE_URL")
    """Where the key service listens (`https://cifer-keyservice.cifer.svc:8081` in a cluster). Plain
    `http://` is refused at start unless the host is loopback (`cifer dev`) or
    `--insecure-allow-plaintext-keyservice` is given: data keys and credentials cross this hop."""
    keyservice_ca: str | None = setting("--keyservice-ca", env="CIFER_KEYSERVICE_CA", default=None,
                                        metavar="FILE_OR_PEM")
    """The CA bundle the key service's certificate is verified against: a file, or the PEM text
    itself (the injector passes it so, read from the operator's bundle); None: the system's
    trust store. A certificate it does not vouch for fails the handshake, and the call is a 503."""
    insecure_allow_plaintext_keyservice: bool = setting("--insecure-allow-plaintext-keyservice", default=False)
    """Development only: allow an `http://` key-service URL off loopback (logged as a warning at
    start). Data keys and bearer credentials then cross the network in clear."""
    host: str = setting("--host", default="127.0.0.1")
    """Address to listen on. The sidecar lends its own identity only while this is loopback."""
    port: int = setting("--port", default=8080)
    """The port applications call (seed §10.4)."""
    grpc_port: int | None = setting("--grpc-port", default=None)
    """The port of the gRPC API (seed §5, docs/grpc.md) on the same host; 0: none. Unset: 9090
    where the `grpc` extra is installed, else none (a port named needs the extra)."""
    allowed_origins: tuple[str, ...] = setting("--allow-origin", default=(), metavar="ORIGIN")
    """Web origins (`https://app.example.com`, exactly as browsers send `Origin`) whose pages may
    call the sidecar; repeat the flag for more. A request that carries any other `Origin` is
    refused (403): only a browser sends one, and a page must never borrow the pod's identity."""
    health_port: int | None = setting("--health-port", default=None)
    """A second listener on all addresses that answers only `GET /v1/health`, for the kubelet's
    probes (the API itself stays on loopback). It reports the sidecar alone: a key-service outage
    must not restart or unready every application pod at once."""
    token_file: Path | None = setting("--token-file", default=None, help=(
        "The pod's projected ServiceAccount token, reread on every use (the kubelet rotates it); "
        f"`cifer proxy` takes {DEFAULT_TOKEN_FILE} when it is not named and that file exists."))
    api_key: str | None = setting(None, env="CIFER_API_KEY", default=None, repr=False)
    """The pod's own API key (seed §10.4), used for callers that send none."""
    public_key_ttl_s: float = setting("--public-key-ttl", default=60.0, metavar="SECONDS")
    """How long a fetched public key is used: a rotation or revocation that this sidecar has not
    seen itself stops encryption under the old key within this long."""
    public_key_cache_size: int = 1024
    """Most cifers whose public keys are kept."""
    credential_ttl_s: float = 5.0
    """How long a credential the key service vouched for (`/v1/whoami`) is trusted for local encryption."""
    max_json_body_bytes: int = 8 * 1024 * 1024
    """Largest JSON request read whole; binary bodies stream and have no bound."""
    keyservice_timeout_s: float = 10.0
    """Longest wait for one call to the key service before answering 503."""
    inference_url: str | None = setting("--inference-url", env="CIFER_INFERENCE_URL", default=None)
    """The inference service (seed 004); None: /v1/infer answers 503."""
    inference_ca: str | None = setting("--inference-ca", env="CIFER_INFERENCE_CA", default=None,
                                       metavar="FILE_OR_PEM")
    """The CA bundle the inference service's certificate is verified against (a file or the PEM
    text, as `keyservice_ca`); None: the system's trust store."""
    inference_timeout_s: float = 120.0
    """Longest wait for one inference call (key generation on the first one included)."""
    warm_cifer_ids: tuple[str, ...] = setting("--warm", default=(), metavar="CIFER_ID")
    """Public keys fetched at start, so the first encryptions do not wait (`cifer.io/cifer-keys`)."""
    decap_batch_window_ms: float = setting("--decap-batch-window-ms", default=1.0, metavar="MS")
    """How long the first decrypt waits for others with the same credential before their headers
    go to the key service in one call (0 .. 100). Decrypts that arrive while a call is in flight
    wait for it and go together anyway; the window only gathers an idle sidecar's first burst."""
    decap_max_batch: int = setting("--decap-max-batch", default=64, metavar="HEADERS")
    """Most headers in one call to the key service; at most the key service's `max_batch_headers`."""
    recipient_suite: str = setting("--recipient-suite", default=keyrelease.DEFAULT_SUITE.name, metavar="SUITE",
                                   parse=keyrelease.suite_name, help=(
        "The HPKE suite data keys are sealed to this sidecar with (docs/key-release.md): "
        f"{', '.join(keyrelease.SUITES)}. ML-KEM-768 keeps a recording of the pod network "
        "safe from a future quantum computer, at 1,136 bytes per key instead of 80."))
    recipient_rotate_s: float = setting("--recipient-rotate", default=3600.0, metavar="SECONDS")
    """Age at which the in-memory key pair that data keys are sealed to is replaced (at most 3600:
    docs/key-release.md). It is never written anywhere."""
    usage_report_interval_s: float = setting("--usage-report-interval", default=5.0, metavar="SECONDS")
    """How often this sidecar reports its local encryptions and payload-authentication failures to the
    key service (`POST /v1/usage`), 0.05 .. 5; and once more when it stops. A report that could not be
    sent is retried with the same report id, so it is counted once."""
    usage_max_entries: int = 10_000
    """Most usage tallies (one per credential and cifer) held at once, unreported and unsent together:
    the bound on what reporting may hold while the key service is away. Past it, new tallies are
    dropped and logged, never the pod's memory."""
    callback_allow_private_networks: bool = setting("--callback-allow-private-networks", default=False)
    """Let seed 001's batch callbacks reach loopback, private and link-local addresses. Off: a caller
    cannot make the sidecar POST into the cluster or a cloud metadata endpoint (SSRF), the key
    service's webhook rule; `cifer dev` turns it on, its receivers being on the developer's machine."""
    callback_timeout_s: float = 10.0
    """The whole of one batch callback's POST; it is tried CALLBACK_ATTEMPTS times."""
    encrypt_limit_per_minute: int | None = setting("--encrypt-limit-per-minute", default=None, metavar="ENCRYPTS")
    """Seed §8.1's encrypt limit (1000 a minute there), counted here per credential in fixed minutes,
    with §8.2's X-RateLimit-* headers and a 429 RATE_LIMIT_EXCEEDED past it. None (the default): no
    limit, since a local encryption costs the key service nothing; give it to hold a noisy caller back."""
