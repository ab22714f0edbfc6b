"""Settings of the operator, each with its unit and its reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cifer_operator.injection import InjectorSettings

GROUP = "cifer.io"
VERSION = "v1alpha1"
DEFAULT_TOKEN_FILE = Path("/var/run/secrets/cifer/token")  # a projected ServiceAccount token, audience `cifer`
DEFAULT_PEERING = "cifer-operator"


@dataclasses.dataclass(frozen=True)
class WebhookServerSettings:
    """Where the validating admission webhook listens; the API server must reach it over HTTPS.
    Its certificate serves the injection webhook too."""

    addr: str = "0.0.0.0"
    """Address to listen on."""
    port: int = 9443
    """Port to listen on."""
    host: str | None = None
    """Host name (or IP) the API server calls; None: `addr`."""
    certfile: Path | None = None
    """Serving certificate (PEM). None: a self-signed one is made at start (`certs.self_signed`)."""
    pkeyfile: Path | None = None
    """Its private key (PEM)."""
    cafile: Path | None = None
    """CA bundle the API server verifies the certificate with; None: the certificate itself."""
    managed: str | None = None
    """Name of the ValidatingWebhookConfiguration the operator keeps up to date itself; None: one
    installed with the chart points here and the operator leaves it alone."""


@dataclasses.dataclass(frozen=True)
class OperatorSettings:
    keyservice_url: str
    """Where the key service listens (`http://cifer-keyservice.cifer-system:8081` in a cluster)."""
    token_file: Path | None = None
    """The operator's projected ServiceAccount token (audience `cifer`), reread on every call; the
    key service grants this ServiceAccount the admin scope (`--admin-principal`)."""
    api_key: str | None = dataclasses.field(default=None, repr=False)
    """An admin API key instead of a token (`CIFER_API_KEY`), for `cifer dev` and tests."""
    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty: the whole cluster."""
    peering: str | None = DEFAULT_PEERING
    """The ClusterKopfPeering through which replicas agree that only one acts; None: standalone."""
    priority: int = 0
    """This replica's peering priority: the highest acts, the others pause (replicas of one
    priority would all pause, so `cifer operator` picks a random one unless told)."""
    peering_lifetime_s: int = 60
    """How long this replica's peering record counts without a renewal: a replica that died
    without saying so (SIGKILL, a lost node) blocks its successor this long at most."""
    status_refresh_s: float = 60.0
    """How often a CiferKey's status is compared with the key service (scheduled rotations happen
    there) and a CiferWebhook's deliveries and selected keys are looked at."""
    keyservice_timeout_s: float = 30.0
    """Longest wait for one key-service call before the handler is retried."""
    retry_delay_s: float = 5.0
    """First wait before retrying a handler whose key-service call failed for a reason that may
    heal (unreachable, 5xx, 429); it doubles with each retry up to `max_retry_delay_s`."""
    max_retry_delay_s: float = 300.0
    """Longest wait between retries."""
    webhook: WebhookServerSettings = dataclasses.field(default_factory=WebhookServerSettings)
    """The validating admission webhook's server, and the TLS material both webhooks use."""
    inject_port: int | None = None
    """Serve the sidecar-injection webhook on this port (same address and certificate); None: not."""
    injector: InjectorSettings | None = None
    """What is injected, when `inject_port` is set."""
    certificate_check_s: float = 60.0
    """How often the webhook certificate's files are compared with what was loaded; a renewed
    certificate stops the operator, and its Deployment starts it again with the new one."""
    liveness_endpoint: str | None = None
    """`http://0.0.0.0:8081/healthz`: kopf's liveness probe; None: none."""
