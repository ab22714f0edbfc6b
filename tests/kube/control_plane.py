"""A real Kubernetes control plane for tests: etcd plus kube-apiserver on loopback.

There is no Docker on the build and CI machines, so no kind cluster: what the tests need is the
real API server (TokenReview, TokenRequest, CRDs, admission webhooks) and that is etcd plus
kube-apiserver, the pair controller-runtime's envtest runs. kube-apiserver 1.20.2 is built once
from Debian's sources by `scripts/build-kube-apiserver` and cached outside the repository; etcd
is Debian's `etcd-server`. See /work/shared/notes/kube-control-plane.md.

When KUBECONFIG is set, `ControlPlane.start()` uses that cluster (kind, minikube, a real
cluster) instead of starting one, and `stop()` then leaves it alone.

There is no kubelet, scheduler or controller-manager: pods are stored but never run, namespaces
other than `default` and ServiceAccounts must be created by the test (the helpers below do).
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KUBE_VERSION = "1.20.2"
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-kube-apiserver"
READY_TIMEOUT_S = 60.0
BUILD_TIMEOUT_S = 45 * 60.0
STOP_GRACE_S = 10.0
# The API server's audiences: its own issuer only. Never the key service's `cifer`: listed here, a
# token meant for the API server would also pass a TokenReview for `cifer`; a token projected for
# `cifer` authenticates for it without that (both seen on 1.20).
API_AUDIENCES = ("https://kubernetes.default.svc",)


class ControlPlaneError(RuntimeError):
    """The control plane could not be started or reached."""


class KubeApiError(RuntimeError):
    """The API server answered a request with an unexpected status."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path} -> HTTP {status}: {message}")
        self.status = status
        self.body = body


def kube_cache_dir() -> Path:
    """Where `scripts/build-kube-apiserver` caches its binaries, keyed by version."""
    return Path(os.environ.get("CIFER_KUBE_CACHE") or Path.home() / ".cache" / "cifer-kube")


def cached_apiserver_path() -> Path:
    return kube_cache_dir() / KUBE_VERSION / "kube-apiserver"


def find_kube_apiserver() -> Path:
    """The cached kube-apiserver binary; builds it once (several minutes) when it is missing."""
    override = os.environ.get("CIFER_KUBE_APISERVER")
    if override:
        return Path(override)
    cached = cached_apiserver_path()
    if os.access(cached, os.X_OK):
        return cached
    build = subprocess.run(
        [str(BUILD_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if build.returncode != 0:
        tail = "\n".join((build.stdout + build.stderr).splitlines()[-40:])
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed (exit {build.returncode}):\n{tail}")
    built = Path(build.stdout.strip().splitlines()[-1])
    if not os.access(built, os.X_OK):
        raise ControlPlaneError(f"{BUILD_SCRIPT} printed {built}, which is not an executable")
    return built


def find_etcd() -> Path:
    found = shutil.which("etcd") or shutil.which("etcd", path="/usr/bin:/usr/local/bin")
    if not found:
        raise ControlPlaneError(
            "etcd not found on PATH: install the Debian package `etcd-server` "
            "(scripts/build-kube-apiserver installs it)"
        )
    return Path(found)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlane:
    """A reachable Kubernetes API server and the admin credentials for it.

    `url`, `admin_token` (None for an external cluster whose kubeconfig authenticates by client
    certificate), `kubeconfig_path`, `ca_file` (a PEM file that verifies the server, or None),
    `insecure_skip_tls_verify` and `env` (os.environ plus KUBECONFIG, for subprocesses such as
    kubectl or kopf).
    """

    def __init__(
        self,
        *,
        url: str,
        kubeconfig_path: Path,
        workdir: Path,
        admin_token: str | None,
        ca_file: str | None,
        insecure_skip_tls_verify: bool,
        client_cert: tuple[str, str] | None = None,
        kubeconfig_env: str | None = None,
        processes: list[subprocess.Popen[bytes]] | None = None,
        external: bool = False,
    ) -> None:
        self.url = url
        self.kubeconfig_path = kubeconfig_path
        self.workdir = workdir
        self.admin_token = admin_token
        self.ca_file = ca_file
        self.insecure_skip_tls_verify = insecure_skip_tls_verify
        self.client_cert = client_cert
        self.external = external
        self.env = {**os.environ, "KUBECONFIG": kubeconfig_env or str(kubeconfig_path)}
        self._processes = processes or []
        self._ssl = self._ssl_context()

    # ---------------------------------------------------------------- starting and stopping

    @classmethod
    def start(cls, *, timeout_s: float = READY_TIMEOUT_S) -> ControlPlane:
        """The cluster named by KUBECONFIG if it is set, else a fresh local control plane."""
        kubeconfig = os.environ.get("KUBECONFIG")
        if kubeconfig:
            return cls.from_kubeconfig(kubeconfig)
        return cls.launch(timeout_s=timeout_s)

    @classmethod
    def launch(
        cls,
        *,
        timeout_s: float = READY_TIMEOUT_S,
        address: str = "127.0.0.1",
        users: tuple[tuple[str, str, str], ...] = (),
        authorization_mode: str = "RBAC",
        extra_args: tuple[str, ...] = (),
    ) -> ControlPlane:
        """Start etcd and kube-apiserver on free ports in a new temporary directory.

        The API server listens on and advertises `address` (loopback by default; a node's own
        address when pods must reach it through the `kubernetes` Service). `users` adds static
        token identities beside the admin, as (token, user name, comma-separated groups).
        """
        apiserver = find_kube_apiserver()
        etcd = find_etcd()
        workdir = Path(tempfile.mkdtemp(prefix="cifer-kube-"))
        processes: list[subprocess.Popen[bytes]] = []
        try:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            (workdir / "sa.key").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            (workdir / "sa.pub").write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            admin_token = secrets.token_hex(24)
            (workdir / "tokens.csv").write_text("".join(
                f"{token},{user},{user}" + (f',"{groups}"' if groups else "") + "\n"
                for token, user, groups in ((admin_token, "admin", "system:masters"), *users)))

            etcd_client, etcd_peer, api_port = _free_port(), _free_port(), _free_port()
            etcd_env = dict(os.environ)
            if platform.machine() in ("aarch64", "arm64"):
                etcd_env["ETCD_UNSUPPORTED_ARCH"] = "arm64"
            processes.append(
                cls.spawn(
                    [
                        str(etcd),
                        "--name=default",
                        f"--data-dir={workdir / 'etcd'}",
                        f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                        f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                        f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                        f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                        f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                    ],
                    workdir / "etcd.log",
                    etcd_env,
                )
            )
            processes.append(
                cls.spawn(
                    [
                        str(apiserver),
                        f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                        f"--secure-port={api_port}",
                        "--insecure-port=0",
                        f"--bind-address={address}",
                        f"--advertise-address={address}",
                        f"--cert-dir={workdir / 'certs'}",
                        "--service-account-issuer=https://kubernetes.default.svc",
                        f"--service-account-key-file={workdir / 'sa.pub'}",
                        f"--service-account-signing-key-file={workdir / 'sa.key'}",
                        f"--api-audiences={','.join(API_AUDIENCES)}",
                        f"--token-auth-file={workdir / 'tokens.csv'}",
                        f"--authorization-mode={authorization_mode}",
                        "--service-cluster-ip-range=10.0.0.0/24",
                        *extra_args,
                    ],
                    workdir / "kube-apiserver.log",
                    dict(os.environ),
                )
            )
            url = f"https://{address}:{api_port}"
            kubeconfig_path = workdir / "kubeconfig"
            kubeconfig_path.write_text(_local_kubeconfig(url, admin_token))
            plane = cls(
                url=url,
                kubeconfig_path=kubeconfig_path,
                workdir=workdir,
                admin_token=admin_token,
                ca_file=None,  # the server's certificate is made at start; set once ready
                insecure_skip_tls_verify=True,
                processes=processes,
            )
        except BaseException:
            stop_processes(processes)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        try:
            plane._wait_ready(timeout_s)
        except BaseException:
            plane.stop()
            raise
        # kube-apiserver writes its self-signed serving certificate followed by its CA here.
        serving = workdir / "certs" / "apiserver.crt"
        if serving.is_file():
            plane.ca_file = str(serving)
        return plane

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str) -> ControlPlane:
        """An existing cluster, from the current context of a KUBECONFIG (paths joined by ':')."""
        config = _read_kubeconfig(kubeconfig)
        access = _current_access(config)
        workdir = Path(tempfile.mkdtemp(prefix="cifer-kube-external-"))
        try:
            ca_file = _materialize(access["cluster"], "certificate-authority", workdir / "ca.crt")
            cert = _materialize(access["user"], "client-certificate", workdir / "client.crt")
            key = _materialize(access["user"], "client-key", workdir / "client.key")
            token = access["user"].get("token")
            if not token and access["user"].get("tokenFile"):
                token = Path(access["user"]["tokenFile"]).read_text().strip()
            if not token and not cert:
                raise ControlPlaneError(
                    "the KUBECONFIG user has neither a token nor a client certificate "
                    "(exec and auth-provider plugins are not supported by the test fixture)"
                )
            first = next(p for p in kubeconfig.split(os.pathsep) if p and Path(p).is_file())
            plane = cls(
                url=access["cluster"]["server"].rstrip("/"),
                kubeconfig_path=Path(first),
                workdir=workdir,
                admin_token=token,
                ca_file=ca_file,
                insecure_skip_tls_verify=bool(access["cluster"].get("insecure-skip-tls-verify")),
                client_cert=(cert, key) if cert and key else None,
                kubeconfig_env=kubeconfig,
                external=True,
            )
            plane.request("GET", "/version")
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return plane

    @staticmethod
    def spawn(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(log_path, "wb") as log:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=log_path.parent,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for proc in self._processes:
                if proc.poll() is not None:
                    raise ControlPlaneError(
                        f"{Path(proc.args[0]).name} exited with {proc.returncode} while starting"
                        f"\n{self.logs()}"
                    )
            try:
                self.request("GET", "/readyz", timeout_s=2.0)
                return
            except (OSError, KubeApiError, ValueError) as exc:
                last_error = str(exc)
            time.sleep(0.25)
        raise ControlPlaneError(
            f"kube-apiserver at {self.url} not ready after {timeout_s:.0f} s "
            f"({last_error})\n{self.logs()}"
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} (last lines) ---\n{log_tail(self.workdir / name)}"
            for name in ("kube-apiserver.log", "etcd.log")
        )

    def stop(self) -> None:
        """Terminate kube-apiserver then etcd by pid (kill after a grace period), remove the
        temporary directory. An external cluster is left running. Safe to call twice."""
        stop_processes(list(reversed(self._processes)))
        self._processes = []
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- the REST API, as admin

    def _ssl_context(self) -> ssl.SSLContext:
        if self.insecure_skip_tls_verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=self.ca_file)
        if self.client_cert:
            context.load_cert_chain(*self.client_cert)
        return context

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
    ) -> Any:
        """One API call with the admin credentials (or `token`); the decoded JSON answer.

        Raises KubeApiError for a status other than 2xx, OSError when the server is not reached.
        """
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        bearer = token or self.admin_token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                answer: Any = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")
            raise KubeApiError(method, path, err.code, answer) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def create_namespace(self, name: str) -> None:
        """Create a namespace; one that exists already is fine."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            self.request("POST", "/api/v1/namespaces", body)
        except KubeApiError as err:
            if err.status != 409:
                raise

    def create_service_account(self, ns: str, name: str) -> dict[str, Any]:
        """Create a ServiceAccount (and its namespace if needed); the object as stored.

        No controller-manager runs, so no token Secret is made for it: use `create_token`.
        """
        # Even `default`: a fresh API server makes it a moment after it is ready.
        self.create_namespace(ns)
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
        path = f"/api/v1/namespaces/{_q(ns)}/serviceaccounts"
        try:
            return self.request("POST", path, body)
        except KubeApiError as err:
            if err.status != 409:
                raise
        return self.request("GET", f"{path}/{_q(name)}")

    def delete_service_account(self, ns: str, name: str) -> None:
        """Delete a ServiceAccount; one that is already gone is fine."""
        try:
            self.request("DELETE", f"/api/v1/namespaces/{_q(ns)}/serviceaccounts/{_q(name)}")
        except KubeApiError as err:
            if err.status != 404:
                raise

    def create_token(
        self,
        ns: str,
        name: str,
        audience: str | list[str] | None = None,
        *,
        expiration_s: int = 3600,
    ) -> str:
        """A token for the ServiceAccount by TokenRequest (what `kubectl create token` does).

        `audience` None means the API server's own audiences (a token the API server accepts).
        """
        spec: dict[str, Any] = {"expirationSeconds": expiration_s}
        if audience is not None:
            spec["audiences"] = [audience] if isinstance(audience, str) else list(audience)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = f"/api/v1/namespaces/{_q(ns)}/serviceaccounts/{_q(name)}/token"
        answer = self.request("POST", path, body)
        return answer["status"]["token"]

    def create_cluster_role_binding(
        self, name: str, *, cluster_role: str, ns: str, service_account: str
    ) -> None:
        """Bind a ClusterRole (such as `system:auth-delegator`) to a ServiceAccount."""
        self._bind(name, cluster_role, {"kind": "ServiceAccount", "name": service_account, "namespace": ns})

    def create_cluster_role_binding_for_user(self, user: str, *, cluster_role: str) -> None:
        """Bind a ClusterRole to a user (a client certificate's or a static token's name)."""
        self._bind(user, cluster_role, {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"})

    def _bind(self, name: str, cluster_role: str, subject: dict[str, str]) -> None:
        body = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role,
            },
            "subjects": [subject],
        }
        try:
            self.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body)
        except KubeApiError as err:
            if err.status != 409:
                raise


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in processes:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _local_kubeconfig(url: str, token: str) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: cifer-test
  cluster:
    server: {url}
    insecure-skip-tls-verify: true
users:
- name: cifer-admin
  user:
    token: {token}
contexts:
- name: cifer-test
  context:
    cluster: cifer-test
    user: cifer-admin
    namespace: default
current-context: cifer-test
preferences: {{}}
"""


_PATH_FIELDS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")


def _read_kubeconfig(kubeconfig: str) -> dict[str, Any]:
    """The merged kubeconfig (first definition of a name wins, as kubectl merges)."""
    try:
        import yaml  # noqa: PLC0415 - only an external cluster needs it
    except ImportError:
        yaml = None
    if yaml is None:
        kubectl = shutil.which("kubectl")
        if not kubectl:
            raise ControlPlaneError(
                "KUBECONFIG is set but neither PyYAML nor kubectl is available to read it"
            )
        view = subprocess.run(
            [kubectl, "config", "view", "--raw", "--minify", "--flatten", "-o", "json"],
            env={**os.environ, "KUBECONFIG": kubeconfig},
            capture_output=True,
            text=True,
            check=False,
        )
        if view.returncode != 0:
            raise ControlPlaneError(f"kubectl config view failed: {view.stderr.strip()}")
        return json.loads(view.stdout)
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": [], "current-context": ""}
    for raw in kubeconfig.split(os.pathsep):
        path = Path(raw)
        if not raw or not path.is_file():
            continue
        doc = yaml.safe_load(path.read_text()) or {}
        for section in ("clusters", "contexts", "users"):
            known = {entry["name"] for entry in merged[section]}
            for entry in doc.get(section) or []:
                if entry.get("name") in known:
                    continue
                for body in entry.values():
                    if isinstance(body, dict):
                        for field in _PATH_FIELDS:
                            if body.get(field) and not os.path.isabs(body[field]):
                                body[field] = str(path.parent / body[field])
                merged[section].append(entry)
        if not merged["current-context"] and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
    return merged


def _current_access(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def named(section: str, name: str) -> dict[str, Any]:
        for entry in config.get(section) or []:
            if entry.get("name") == name:
                return entry
        raise ControlPlaneError(f"KUBECONFIG has no {section[:-1]} named {name!r}")

    contexts = config.get("contexts") or []
    name = config.get("current-context") or (contexts[0]["name"] if len(contexts) == 1 else "")
    if not name:
        raise ControlPlaneError("KUBECONFIG has no current-context")
    context = named("contexts", name)["context"]
    return {
        "cluster": named("clusters", context["cluster"])["cluster"],
        "user": named("users", context["user"]).get("user") or {},
    }


def _materialize(section: dict[str, Any], field: str, target: Path) -> str | None:
    """The path of a PEM file for `field`, writing `field-data` to `target` when inlined."""
    if section.get(f"{field}-data"):
        target.write_bytes(base64.b64decode(section[f"{field}-data"]))
        return str(target)
    return section.get(field) or None
