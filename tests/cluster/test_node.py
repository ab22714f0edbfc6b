"""The node itself, as any Kubernetes user would rely on it: pods are scheduled and run, Services
route, cluster names resolve inside pods, Jobs complete, logs are read through the kubelet, and
the kubelet serves nobody anonymous.

What this node cannot show (so no test here claims it):
- NetworkPolicy: the bridge CNI plugin does not enforce it; a policy is stored and ignored.
- Native sidecars (init containers with `restartPolicy: Always`): the kubelet is 1.20, built from
  Debian's source like the API server; they need 1.28.
"""

from __future__ import annotations

import secrets
import ssl
import urllib.error
import urllib.request

import pytest
from kube.node import NODE_NAME, Node

from .pods import (
    apply,
    first_pod,
    logs,
    namespace,
    until,
    wait_endpoints,
    wait_phase,
    wait_ready,
)

pytestmark = pytest.mark.cluster

SERVE = "mkdir -p /tmp/www && echo hello-from-web > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"
FETCH = "import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"


def test_a_job_reaches_a_service_by_its_cluster_name(cluster: Node) -> None:
    ns = f"web-{secrets.token_hex(3)}"
    labels = {"app": "web"}
    apply(cluster, namespace(ns), {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": ns, "labels": labels},
        "spec": {"containers": [{
            "name": "httpd", "image": cluster.images["busybox"], "imagePullPolicy": "Never",
            "command": ["sh", "-c", SERVE],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]},
    }, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    })
    wait_ready(cluster, ns, "web")
    wait_endpoints(cluster, ns, "web")
    cluster_ip = cluster.plane.request("GET", f"/api/v1/namespaces/{ns}/services/web")["spec"]["clusterIP"]
    until(lambda: _answers(f"http://{cluster_ip}/"), "kube-proxy routing the Service from the host")
    apply(cluster, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "fetch", "namespace": ns},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {"job": "fetch"}}, "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "fetch", "image": cluster.images["cifer"], "imagePullPolicy": "Never",
                            "command": ["python3", "-c", FETCH.format(url=f"http://web.{ns}.svc/")]}]}}},
    })
    job_pod = first_pod(cluster, ns, "job=fetch")
    done = wait_phase(cluster, ns, job_pod, "Succeeded")
    assert done["spec"]["nodeName"] == NODE_NAME  # placed by the scheduler, not by hand
    assert "hello-from-web" in logs(cluster, ns, job_pod)


def test_the_kubelet_refuses_anonymous_callers(cluster: Node) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"https://{cluster.ip}:10250/pods", context=context, timeout=10)
    assert refused.value.code == 401



def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False
