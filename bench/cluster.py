"""The sidecar in a real pod against the same sidecar on the host, in one run. Prints one JSON object.

Workload (fixed): the test node (tests/kube/node.py: kubelet, containerd, kube-proxy on this
machine) with the chart installed from the offline image (tests/cluster/release.py) and a CiferKey
that the benchmark's ServiceAccount may use.
- admit_to_ready_s: from the create request of a pod whose namespace is labelled for injection to
  the moment it is Ready, its injected sidecar included (polled every POLL_S); the median of PODS
  fresh pods, each deleted before the next. Goal <= 5.
- pod_encrypt_rps: POST /v1/encrypt, JSON, 1 KiB plaintext, CONCURRENCY at once for DURATION_S,
  from inside the application container to its sidecar on 127.0.0.1:8080, as the pod's
  ServiceAccount. The sidecar is given one CPU (`cifer.io/proxy-cpu: "1"`): a process on the host
  uses at most one core too, so the ratio measures the pod, not the default 500m limit.
- host_encrypt_rps: the same load script against `cifer proxy` run on the host from this checkout
  (the code the image was built from), in front of `cifer keyservice serve` on loopback, with an
  API key. Encryption needs the key service only for the public key, fetched once.
- pod_vs_host_encrypt_rps: their ratio. Goal >= 0.8.
- sidecar_container_rss_mib: the sidecar container's resident memory as its cgroup counts it
  (memory.stat total_rss) after the load.
Medians of ROUNDS rounds; pod and host interleaved in each round. Needs root (the node).

Usage: python bench/cluster.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from cluster.host import container_process
from cluster.pods import apply, exec_in, is_ready, namespace, until, wait_ready
from cluster.release import active_key, install, uninstall
from kube.node import Node
from ports import free_port

PODS = 7
POLL_S = 0.05
CONCURRENCY = 16
DURATION_S = 5.0
ROUNDS = 3
NS, SA, KEY = "bench", "bench", "bench"
LOAD = """
import asyncio, json, sys, time, aiohttp
url, cifer_id, seconds, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
headers = {"Content-Type": "application/json", **json.loads(sys.argv[5])}
body = json.dumps({"cifer_id": cifer_id, "plaintext": "x" * 1024, "encoding": "utf8"}).encode()
async def run(http, seconds):
    done, deadline = 0, time.perf_counter() + seconds
    async def worker():
        nonlocal done
        while time.perf_counter() < deadline:
            async with http.post(url, data=body, headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    raise SystemExit(f"{answer.status}: {await answer.text()}")
            done += 1
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)
async def main():
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await run(http, 1.0)  # warm: connections, the public key, the credential check
        print(json.dumps({"rps": await run(http, seconds)}))
asyncio.run(main())
"""


def pod(name: str, annotations: dict[str, str], image: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "bench"}, "annotations": annotations},
            "spec": {"serviceAccountName": SA, "terminationGracePeriodSeconds": 0, "containers": [{
                "name": "app", "image": image, "imagePullPolicy": "Never",
                "command": ["python3", "-c", "import time; time.sleep(10**7)"]}]}}


def admit_to_ready(node: Node, image: str) -> list[float]:
    times = []
    for n in range(PODS):
        name = f"admit-{n}"
        started = time.perf_counter()
        node.plane.request("POST", f"/api/v1/namespaces/{NS}/pods", pod(name, {}, image))
        while not is_ready(node.plane.request("GET", f"/api/v1/namespaces/{NS}/pods/{name}")):
            if time.perf_counter() - started > 120:
                raise RuntimeError(f"{name} not Ready:\n{node.report()}")
            time.sleep(POLL_S)
        times.append(time.perf_counter() - started)
        injected = node.plane.request("GET", f"/api/v1/namespaces/{NS}/pods/{name}")["spec"]["containers"]
        assert any(c["name"] == "cifer-proxy" for c in injected), "no sidecar injected"
        node.plane.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{name}?gracePeriodSeconds=0")
    return times


def in_pod(node: Node, cifer_id: str) -> float:
    done = exec_in(node, NS, "load", "python3", "-c", LOAD, "http://127.0.0.1:8080/v1/encrypt", cifer_id,
                   str(DURATION_S), str(CONCURRENCY), "{}", container="app")
    return json.loads(done.stdout)["rps"]


def on_host(sidecar: str, cifer_id: str, auth: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", LOAD, f"{sidecar}/v1/encrypt", cifer_id, str(DURATION_S),
                           str(CONCURRENCY), json.dumps(auth)], capture_output=True, text=True, check=True,
                          timeout=120)
    return json.loads(done.stdout)["rps"]


def wait_answering(url: str) -> None:
    def answers():
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False
    until(answers, f"{url} answering", 60)


def rss_mib(node: Node, namespace_: str, pod_name: str, container: str) -> float:
    found = node.plane.request("GET", f"/api/v1/namespaces/{namespace_}/pods/{pod_name}")
    (status,) = [s for s in found["status"]["containerStatuses"] if s["name"] == container]
    process = container_process(node, status["containerID"])
    group = next(line.split(":", 2)[2] for line in Path(f"/proc/{process.pid}/cgroup").read_text().splitlines()
                 if ":memory:" in line)
    stat = dict(line.split() for line in Path(f"/sys/fs/cgroup/memory{group}/memory.stat").read_text().splitlines())
    return int(stat["total_rss"]) / 2**20


def host_sidecar(tmp: str) -> tuple[list[subprocess.Popen], str, str, dict[str, str]]:
    """`cifer keyservice serve` and `cifer proxy` on loopback, a cifer and an API key."""
    cli = [sys.executable, "-m", "cifer.cli"]
    keyservice = [*cli, "keyservice", "--data-dir", tmp, "--rate-limit", "encrypt=1000000000/60"]
    made = subprocess.run([*keyservice, "apikey", "create", "--owner", "usr_bench", "--scope", "cifer:create",
                           "--scope", "encrypt"], check=True, capture_output=True, text=True)
    auth = {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}
    ks_port, proxy_port = free_port(), free_port()
    procs = [subprocess.Popen([*keyservice, "serve", "--port", str(ks_port)], stdout=subprocess.DEVNULL)]
    wait_answering(f"http://127.0.0.1:{ks_port}/v1/health")
    procs.append(subprocess.Popen([*cli, "proxy", "--keyservice-url", f"http://127.0.0.1:{ks_port}",
                                   "--port", str(proxy_port), "--grpc-port", "0"], stdout=subprocess.DEVNULL))
    sidecar = f"http://127.0.0.1:{proxy_port}"
    wait_answering(f"{sidecar}/v1/health")
    request = urllib.request.Request(f"{sidecar}/v1/cifers", data=b'{"name": "bench"}',
                                     headers={**auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        cifer_id = json.load(answer)["data"]["cifer_id"]
    return procs, sidecar, cifer_id, auth


def main() -> None:
    median = statistics.median
    node = Node.launch()
    try:
        install(node)
        image = node.images["cifer"]
        apply(node, namespace(NS, {"cifer.io/injection": "enabled"}),
              {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA, "namespace": NS}})
        cifer_id = active_key(node, NS, KEY, [SA])
        admitted = admit_to_ready(node, image)
        apply(node, pod("load", {"cifer.io/proxy-cpu": "1"}, image))
        wait_ready(node, NS, "load")
        with tempfile.TemporaryDirectory() as tmp:
            procs, sidecar, host_cifer, auth = host_sidecar(tmp)
            try:
                pod_rps, host_rps = [], []
                for _ in range(ROUNDS):
                    pod_rps.append(in_pod(node, cifer_id))
                    host_rps.append(on_host(sidecar, host_cifer, auth))
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait(timeout=10)
        rss = rss_mib(node, NS, "load", "cifer-proxy")
        uninstall(node)
    finally:
        node.stop()
    print(json.dumps({
        "admit_to_ready_s": round(median(admitted), 2), "admit_to_ready_s_goal": 5,
        "admit_to_ready_s_all": [round(t, 2) for t in admitted],
        "pod_encrypt_rps": round(median(pod_rps)), "host_encrypt_rps": round(median(host_rps)),
        "pod_vs_host_encrypt_rps": round(median(p / h for p, h in zip(pod_rps, host_rps, strict=True)), 3),
        "pod_vs_host_encrypt_rps_goal": 0.8,
        "sidecar_container_rss_mib": round(rss, 1),
        "rounds": ROUNDS, "concurrency": CONCURRENCY, "duration_s": DURATION_S, "pods": PODS,
    }, indent=1))


if __name__ == "__main__":
    main()
