"""Settings of the operator, each with its unit and its reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cifer.settings import setting
from cifer.settings.sidecar import DEFAULT_TOKEN_FILE
from cifer_operator.injection import InjectorSettings

GROUP = "cifer.io"
VERSION = "v1alpha1"


@dataclasses.dataclass(frozen=True)
class WebhookServerSettings:
    """Where the validating admission webhook listens; the API server must reach it over HTTPS.
    Its certificate serves the injection webhook too."""

    addr: str = setting("--webhook-addr", default="0.0.0.0")  # noqa: S104 - the API server calls from off the pod
    """Address to listen on."""
    port: int = setting("--webhook-port", default=9443)
    """Port to listen on."""
    host: str | None = setting("--webhook-host", default=None)
    """Host name (or IP) the API server calls; None: `addr`."""
    certfile: Path | None = setting("--webhook-cert", default=None)
    """Serving certificate (PEM). None: a self-signed one is made at start (`certs.self_signed`)."""
    pkeyfile: Path | None = setting("--webhook-key", default=None)
    """Its private key (PEM); it goes with `certfile`."""
    cafile: Path | None = setting("--webhook-ca", default=None)
    """CA bundle the API server verifies the certificate with; None: the certificate itself."""
    managed: str | None = setting("--webhook-manage", default=None, metavar="NAME")
    """Name of the ValidatingWebhookConfiguration the operator keeps up to date itself; None: one
    installed with the chart points here and the operator leaves it alone."""


@dataclasses.dataclass(frozen=True)
class OperatorSettings:
    keyservice_url: str = setting("--keyservice-url", env="CIFER_KEYSERVICE_URL")
    """Where the key service listens (`https://cifer-keyservice.cifer-system.svc:8081` in a
    cluster). Plain `http://` is refused at start unless the host is loopback or
    `--insecure-allow-plaintext-keyservice` is given: the operator's admin credential crosses it."""
    keyservice_ca: str | None = setting("--keyservice-ca", env="CIFER_KEYSERVICE_CA", default=None,
                                        metavar="FILE_OR_PEM")
    """The CA bundle the key service's certificate is verified against (a file, or the PEM
    text); None: the system's trust store. The injector hands it to sidecars too unless told
    otherwise (`--inject-keyservice-ca`)."""
    insecure_allow_plaintext_keyservice: bool = setting("--insecure-allow-plaintext-keyservice", default=False)
    """Development only: allow an `http://` key-service URL off loopback (logged as a warning at
    start), here and in the sidecars the injector makes."""
    token_file: Path | None = setting("--token-file", default=None, help=(
        "The operator's projected ServiceAccount token (audience `cifer`), reread on every call; the key service "
        "grants this ServiceAccount the admin scope (`--admin-principal`). `cifer operator` takes "
        f"{DEFAULT_TOKEN_FILE} when it is not named and that file exists, else $CIFER_API_KEY."))
    api_key: str | None = setting(None, env="CIFER_API_KEY", default=None, repr=False)
    """An admin API key instead of a token, for `cifer dev` and tests."""
    namespaces: tuple[str, ...] = setting("--namespace", default=(), metavar="NS")
    """Namespaces to watch; empty: the whole cluster."""
    peering: str | None = setting("--peering", default="cifer-operator", none_flag="--standalone",
                                  none_help="no peering: only for a single replica")
    """The ClusterKopfPeering through which replicas agree that only one acts; None: standalone."""
    priority: int = setting("--priority", default=0)
    """This replica's peering priority: the highest acts, the others pause (replicas of one
    priority would all pause, so `cifer operator` picks a random one unless told)."""
    peering_lifetime_s: int = setting("--peering-lifetime", default=60, metavar="SECONDS")
    """How long this replica's peering record counts without a renewal: a replica that died
    without saying so (SIGKILL, a lost node) blocks its successor this long at most."""
    status_refresh_s: float = setting("--status-refresh", default=60.0, metavar="SECONDS")
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
    inject_port: int | None = setting("--inject-port", default=None)
    """Serve the sidecar-injection webhook on this port (same address and certificate; paths
    /inject/namespace and /inject/pod); None: not."""
    injector: InjectorSettings | None = None
    """What is injected, when `inject_port` is set."""
    certificate_check_s: float = setting("--certificate-check", default=60.0, metavar="SECONDS")
    """How often the webhook certificate's files are compared with what was loaded; a renewed
    certificate stops the operator, and its Deployment starts it again with the new one."""
    liveness_endpoint: str | None = setting("--liveness", default=None, metavar="URL")
    """`http://0.0.0.0:8081/healthz`: kopf's liveness probe; None: none."""
