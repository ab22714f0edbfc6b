"""The injected sidecar's default requests are sized from what it measures (issue 22): a real
`cifer proxy`, run with the arguments the injector gives it (grpc off, the probes' listener), after
its start and a 1 KiB encrypt and decrypt, holds no more memory than the injector requests for it,
and the request is no larger than that measurement plus MARGIN_MIB; its peak stays under the limit.
bench/proxy.py prints the same measurement (idle_rss_mib) with the start time."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import requests

from cifer_operator.injection import InjectorSettings
from ports import free_port
from proxy.processes import _wait_listening as wait_listening
from proxy.processes import cifer_command, stop

MARGIN_MIB = 24  # stated: headroom over the measured idle sidecar, for TLS sessions, caches and bursts
DEFAULTS = InjectorSettings(image="cifer", keyservice_url="https://ks:8081")


def mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"([0-9]+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


def status_mib(pid: int, field: str) -> float:
    line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def test_the_default_memory_request_is_what_the_sidecar_measures_plus_a_stated_margin(key_service):
    key = key_service.api_key("usr_footprint")
    port = free_port()
    proc = subprocess.Popen(cifer_command("proxy", "--keyservice-url", key_service.url, "--host", "127.0.0.1",
                                          "--port", str(port), "--grpc-port", "0", "--health-port", str(free_port())),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_listening(url, proc)
        auth = {"Authorization": f"Bearer {key}"}
        cifer_id = requests.post(f"{url}/v1/cifers", json={"name": "footprint"}, headers=auth,
                                 timeout=30).json()["data"]["cifer_id"]
        plaintext = base64.b64encode(b"x" * 1024).decode()
        sealed = requests.post(f"{url}/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": plaintext}, headers=auth,
                               timeout=30).json()["data"]["ciphertext"]
        assert requests.post(f"{url}/v1/decrypt", json={"ciphertext": sealed}, headers=auth,
                             timeout=30).json()["data"]["plaintext"] == plaintext
        rss, peak = status_mib(proc.pid, "VmRSS"), status_mib(proc.pid, "VmHWM")
    finally:
        stop(proc)
    request, limit = mib(DEFAULTS.memory_request), mib(DEFAULTS.memory_limit)
    print(f"sidecar RSS {rss:.1f} MiB (peak {peak:.1f}); request {request:.0f} MiB, limit {limit:.0f} MiB")
    assert rss <= request <= rss + MARGIN_MIB, (rss, request)
    assert peak <= limit
    assert DEFAULTS.cpu_request == "10m"  # its idle use rounds to nothing; a share under contention
