"""The whole control plane as real processes on loopback, for the operator's end-to-end tests:
the key service (accepting ServiceAccount tokens through TokenReview against the real API server,
the operator's ServiceAccount granted admin), and `cifer operator` running as its own
ServiceAccount under the least-privilege RBAC of manifests/rbac/ (a kubeconfig with that
account's token, not the test's admin one), with its validating webhook on a loopback port."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from cifer_operator.certs import self_signed
from kube.control_plane import ControlPlane, KubeApiError
from ports import free_port
from proxy.processes import KeyServiceProcess, cifer_command, stop

OPERATOR_NS, OPERATOR_SA = "cifer-system", "cifer-operator"
OPERATOR_PRINCIPAL = f"system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}"
WEBHOOK_CONFIGURATION = "cifer-operator.cifer.io"
REVIEWER_SA = "cifer-keyservice"


def operator_kubeconfig(kube: ControlPlane, path: Path) -> Path:
    """A kubeconfig that acts as the operator's ServiceAccount (a token for the API server)."""
    token = kube.create_token(OPERATOR_NS, OPERATOR_SA, expiration_s=24 * 3600)
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "test", "cluster": {"server": kube.url, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": "operator"}}],
    }))
    return path


def start_keyservice(kube: ControlPlane, workdir: Path) -> KeyServiceProcess:
    """The key service on SQLite with a file KEK, TokenReview against `kube`, the operator as admin."""
    kube.create_service_account(OPERATOR_NS, REVIEWER_SA)
    kube.create_cluster_role_binding(f"{REVIEWER_SA}-auth-delegator", cluster_role="system:auth-delegator",
                                     ns=OPERATOR_NS, service_account=REVIEWER_SA)
    reviewer = workdir / "reviewer.token"
    reviewer.write_text(kube.create_token(OPERATOR_NS, REVIEWER_SA, expiration_s=24 * 3600))
    service = KeyServiceProcess(workdir / "keyservice", (
        "--kube-api-url", kube.url, "--kube-reviewer-token-file", str(reviewer), "--kube-insecure-skip-tls-verify",
    ))
    subprocess.run(service.command("migrate"), check=True, capture_output=True, timeout=60)
    service.serve_args = ("--admin-principal", OPERATOR_PRINCIPAL, "--webhook-allow-private-networks")
    service.start()
    return service


def register_validating_webhook(kube: ControlPlane, port: int, certfile: Path) -> None:
    """The ValidatingWebhookConfiguration the chart installs, pointed at a loopback port (the
    operator has no rights on webhook configurations, so the installer makes it)."""
    path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    body = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": WEBHOOK_CONFIGURATION}, "webhooks": [{
                "name": "ciferkeys.validate.cifer.io",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/ciferkey-immutable",
                                 "caBundle": base64.b64encode(certfile.read_bytes()).decode()},
                "rules": [{"apiGroups": ["cifer.io"], "apiVersions": ["v1alpha1"], "resources": ["ciferkeys"],
                           "operations": ["UPDATE"]}],
                "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1", "v1beta1"],
                "timeoutSeconds": 10}]}
    try:
        kube.request("POST", path, body)
    except KubeApiError as err:
        if err.status != 409:
            raise
        body["metadata"]["resourceVersion"] = kube.request("GET", f"{path}/{WEBHOOK_CONFIGURATION}")["metadata"][
            "resourceVersion"]
        kube.request("PUT", f"{path}/{WEBHOOK_CONFIGURATION}", body)


class OperatorProcess:
    """`cifer operator` as its Deployment runs it, its validating webhook registered as the chart
    does; `kill()` is SIGKILL, `start()` starts it again (same port, same certificate)."""

    def __init__(self, kube: ControlPlane, keyservice_url: str, workdir: Path, *extra: str,
                 registers_webhook: bool = True) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.kube, self.registers_webhook = kube, registers_webhook
        self.certfile, self.keyfile = self_signed(workdir / "tls", ["127.0.0.1"])
        self.kubeconfig = operator_kubeconfig(kube, workdir / "operator.kubeconfig")
        self.token_file = workdir / "operator.token"
        self.token_file.write_text(kube.create_token(OPERATOR_NS, OPERATOR_SA, "cifer", expiration_s=24 * 3600))
        self.keyservice_url, self.extra, self.log_path = keyservice_url, extra, workdir / "operator.log"
        self.webhook_port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        liveness = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("CIFER_API_KEY", "KUBERNETES_SERVICE_HOST")}
        env["KUBECONFIG"] = str(self.kubeconfig)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cifer_command(
                "operator", "--keyservice-url", self.keyservice_url, "--token-file", str(self.token_file),
                "--webhook-addr", "127.0.0.1", "--webhook-port", str(self.webhook_port),
                "--webhook-cert", str(self.certfile), "--webhook-key", str(self.keyfile),
                "--liveness", f"http://127.0.0.1:{liveness}/healthz",
                *self.extra), stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"cifer operator exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=2).close()
                if self.registers_webhook:
                    register_validating_webhook(self.kube, self.webhook_port, self.certfile)
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"cifer operator not live in {timeout_s:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finished patches, as when a node dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """Stop it and, as an uninstall does, remove its webhook configuration (one that points at
        a port nobody serves would refuse every CiferKey update for the rest of the session)."""
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
        if not self.registers_webhook:
            return
        try:
            self.kube.request("DELETE", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                                        + WEBHOOK_CONFIGURATION)
        except KubeApiError as err:
            if err.status != 404:
                raise

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def injecting_operator(kube: ControlPlane, keyservice_url: str, workdir: Path, image: str) -> tuple[OperatorProcess, int, str]:
    """A started operator that also serves the injection webhook (on loopback, over HTTPS): the
    process, its injection port and its CA (base64, for a webhook configuration's caBundle)."""
    inject_port = free_port()
    process = OperatorProcess(kube, keyservice_url, workdir, "--status-refresh", "2", "--peering-lifetime", "10",
                              "--priority", "100", "--inject-port", str(inject_port), "--proxy-image", image,
                              "--inject-exclude-namespace", OPERATOR_NS)
    process.start()
    return process, inject_port, base64.b64encode(process.certfile.read_bytes()).decode()
