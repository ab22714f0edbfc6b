"""How fast `kubectl apply` of a CiferKey becomes an Active key. Prints one JSON object.

Workload (fixed): a local control plane (etcd + kube-apiserver 1.20, as the e2e tests start it),
the CRDs and RBAC of manifests/, `cifer keyservice serve` (SQLite, file KEK, TokenReview) and
`cifer operator` running as its own ServiceAccount with its validating webhook, all on loopback.
- apply_to_active_p50_s, apply_to_active_p99_s: SEQUENTIAL CiferKeys created one after another
  (POST to the API server), each timed from the POST to the status `phase: Active` (polled every
  POLL_S). Goal p50 <= 1.0.
- reconcile_200_s: 200 CiferKeys created at once (concurrent POSTs) until all are Active. Goal <= 60.
- baseline_store_p50_s / baseline_store_200_s: the same POSTs of ConfigMaps, which nothing
  reconciles, timed until each is readable: the API server's own share. Ratios against them.

Usage: python bench/operator.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from operator_.stack import OperatorProcess, start_keyservice  # noqa: E402
from kube.control_plane import ControlPlane  # noqa: E402
from kube.tools import kubectl  # noqa: E402

SEQUENTIAL = 30
AT_ONCE = 200
POLL_S = 0.02
TIMEOUT_S = 300.0
NAMESPACE = "bench"
API = f"/apis/cifer.io/v1alpha1/namespaces/{NAMESPACE}/ciferkeys"
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"


def ciferkey(name: str) -> dict:
    return {"apiVersion": "cifer.io/v1alpha1", "kind": "CiferKey", "metadata": {"name": name}, "spec": {}}


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def install(kube: ControlPlane) -> None:
    for manifest in ("crds", "peering.yaml", "rbac", "operator"):
        kubectl(kube, "apply", "-f", REPO / "manifests" / manifest)
        if manifest in ("crds", "peering.yaml"):
            kubectl(kube, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    kube.create_namespace(NAMESPACE)


def one_after_another(kube: ControlPlane, path: str, body, done) -> list[float]:
    took = []
    for i in range(SEQUENTIAL):
        name = f"seq-{i:03d}"
        start = time.perf_counter()
        kube.request("POST", path, body(name))
        while not done(kube.request("GET", f"{path}/{name}")):
            if time.perf_counter() - start > TIMEOUT_S:
                raise SystemExit(f"{name} not done in {TIMEOUT_S} s")
            time.sleep(POLL_S)
        took.append(time.perf_counter() - start)
    return took


def all_at_once(kube: ControlPlane, path: str, body, done) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: kube.request("POST", path, body(f"many-{i:03d}")), range(AT_ONCE)))
    while True:
        items = [item for item in kube.request("GET", path, timeout_s=60)["items"] if item["metadata"]["name"].startswith("many-")]
        if len(items) == AT_ONCE and all(done(item) for item in items):
            return time.perf_counter() - start
        if time.perf_counter() - start > TIMEOUT_S:
            raise SystemExit(f"{sum(map(done, items))} of {AT_ONCE} Active after {TIMEOUT_S} s")
        time.sleep(0.25)


def is_active(body: dict) -> bool:
    return (body.get("status") or {}).get("phase") == "Active"


def main() -> None:
    with ControlPlane.launch() as kube, tempfile.TemporaryDirectory() as tmp:
        install(kube)
        keyservice = start_keyservice(kube, Path(tmp))
        operator = OperatorProcess(kube, keyservice.url, Path(tmp) / "operator")
        try:
            operator.start()
            stored = lambda body: bool(body)  # noqa: E731 - a ConfigMap is done once it reads back
            baseline_one = one_after_another(kube, CONFIGMAPS, configmap, stored)
            keys_one = one_after_another(kube, API, ciferkey, is_active)
            baseline_many = all_at_once(kube, CONFIGMAPS, configmap, stored)
            keys_many = all_at_once(kube, API, ciferkey, is_active)
        finally:
            operator.stop()
            keyservice.stop()
    p50 = statistics.median(keys_one)
    print(json.dumps({
        "apply_to_active_p50_s": round(p50, 3),
        "apply_to_active_p99_s": round(percentile(keys_one, 0.99), 3),
        "reconcile_200_s": round(keys_many, 2),
        "baseline_store_p50_s": round(statistics.median(baseline_one), 4),
        "baseline_store_200_s": round(baseline_many, 2),
        "apply_to_active_vs_store_p50": round(p50 / statistics.median(baseline_one), 1),
        "reconcile_200_vs_store_200": round(keys_many / baseline_many, 1),
        "goals": {"apply_to_active_p50_s": 1.0, "reconcile_200_s": 60},
    }, indent=2))


if __name__ == "__main__":
    main()
