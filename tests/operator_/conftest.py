"""The CIFER manifests installed in the session's real API server (the `kube` fixture).

- `crds`: manifests/crds/ applied and both CRDs Established; the CRD names.
- `operator_rbac`: on top, kopf's peering CRDs (manifests/peering.yaml), the operator's
  Namespace, ServiceAccount, ClusterRole and binding (manifests/rbac/) and its
  ClusterKopfPeering (manifests/operator/); the ServiceAccount's user name, for `--as` or, with
  `kube.create_token(OPERATOR_NS, OPERATOR_SA)` (tests/operator_/stack.py), a token to run as.
- `namespace`: a fresh namespace for the test module.
- `keyservice`, `operator`, `sidecar`: the key service, `cifer operator` and a sidecar as real
  processes (tests/operator_/stack.py), one set per module (an operator reconciles every namespace, so
  it runs only for the modules that ask for it); `admin_key` looks into the key service.

`kubectl apply` is idempotent, so any number of modules may ask for these in one session.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest

import aiohttp

from kube.control_plane import REPO_ROOT, ControlPlane
from kube.tools import kubectl
from proxy.processes import sidecar_process

from .stack import OPERATOR_PRINCIPAL as OPERATOR_USER
from .stack import OperatorProcess, start_keyservice

MANIFESTS = REPO_ROOT / "manifests"
CRD_NAMES = ("ciferkeys.cifer.io", "ciferwebhooks.cifer.io")
PEERING_CRD_NAMES = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
ESTABLISHED_TIMEOUT = "60s"
SIDECAR_KEY_TTL_S = 1.0


def _apply_and_wait_established(kube: ControlPlane, manifest: str, names: tuple[str, ...]) -> None:
    kubectl(kube, "apply", "-f", MANIFESTS / manifest)
    kubectl(
        kube,
        "wait",
        "--for=condition=Established",
        f"--timeout={ESTABLISHED_TIMEOUT}",
        *(f"customresourcedefinition/{name}" for name in names),
    )


@pytest.fixture(scope="session")
def crds(kube: ControlPlane) -> tuple[str, ...]:
    """CiferKey and CiferWebhook served by the API server; the CRDs' names."""
    _apply_and_wait_established(kube, "crds", CRD_NAMES)
    return CRD_NAMES


@pytest.fixture(scope="session")
def operator_rbac(kube: ControlPlane, crds: tuple[str, ...]) -> str:
    """The operator's identity and rights installed; its user name for `kubectl --as`."""
    _apply_and_wait_established(kube, "peering.yaml", PEERING_CRD_NAMES)
    kubectl(kube, "apply", "-f", MANIFESTS / "rbac")
    kubectl(kube, "apply", "-f", MANIFESTS / "operator")
    return OPERATOR_USER


@pytest.fixture(scope="module")
def namespace(kube: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the module's own, named after it; deleted (without waiting) afterwards."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    stem = re.sub(r"[^a-z0-9]+", "-", module.lower()).strip("-")[:40]
    name = f"e2e-{stem}-{secrets.token_hex(3)}"
    kube.create_namespace(name)
    yield name
    # The local control plane has no namespace controller: the namespace stays Terminating,
    # which is harmless there and cleans up on a real cluster.
    kubectl(kube, "delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def keyservice(kube: ControlPlane, operator_rbac: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    service = start_keyservice(kube, tmp_path_factory.mktemp("keyservice"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def operator(kube: ControlPlane, keyservice, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kube, keyservice.url, tmp_path_factory.mktemp("operator"), "--status-refresh", "2",
                             "--peering-lifetime", "10", "--priority", "100")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def admin_key(keyservice) -> str:
    """An admin API key, to look into the key service from outside the operator."""
    return keyservice.api_key("usr_e2e_admin", scopes=("admin",))


@pytest.fixture(scope="module")
def sidecar(keyservice) -> Iterator[str]:
    with sidecar_process(keyservice.url, "--public-key-ttl", str(SIDECAR_KEY_TTL_S)) as url:
        yield url


@pytest.fixture
async def http() -> Iterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
