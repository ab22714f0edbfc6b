"""POST /v1/shutdown (proxy/cifer_proxy/routes/shutdown.py): a Job's application, done, stops its
sidecar, which answers and then exits 0; nothing but the pod's own containers may ask. Real
`cifer proxy` processes on loopback, lending a pod identity ($CIFER_API_KEY) as an injected one does."""

from __future__ import annotations

import subprocess

import pytest
import requests

from cifer import CiferClient, apikeys
from proxy.processes import lending_sidecar, stop

ALLOWED = "https://app.example.com"


def sidecar(*extra: str, lends: bool = True) -> tuple[subprocess.Popen, str]:
    return lending_sidecar("--allow-origin", ALLOWED, *extra, lends=lends)


def test_the_pods_own_request_is_answered_and_the_sidecar_exits_0():
    proc, url = sidecar()
    try:
        answer = requests.post(f"{url}/v1/shutdown", timeout=10)
        assert answer.status_code == 202 and answer.json()["data"] == {"stopping": True}
        assert proc.wait(timeout=20) == 0
    finally:
        stop(proc)


def test_the_sdk_stops_it_too_without_sending_its_own_credential():
    proc, url = sidecar()
    try:
        with CiferClient(apikeys.generate_api_key(live=False), base_url=url) as client:  # its key is not sent
            client.shutdown_sidecar()
        assert proc.wait(timeout=20) == 0
    finally:
        stop(proc)


@pytest.mark.parametrize("headers", [
    {"Authorization": "Bearer " + apikeys.generate_api_key(live=False)},  # a caller of its own, not the pod
    {"Origin": ALLOWED},  # a web page, even one allowed to call the API
    {"Origin": "https://evil.example"},
    {"Host": "evil.example"},  # a rebound DNS name: a browser's request
])
def test_anything_but_the_pods_own_request_is_refused_and_the_sidecar_runs_on(headers):
    proc, url = sidecar()
    try:
        refused = requests.post(f"{url}/v1/shutdown", headers=headers, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
        assert requests.get(f"{url}/metrics", timeout=10).status_code == 200  # still serving
        assert proc.poll() is None
    finally:
        stop(proc)


def test_a_sidecar_that_lends_no_identity_is_not_stopped():
    proc, url = sidecar(lends=False)
    try:
        assert requests.post(f"{url}/v1/shutdown", timeout=10).status_code == 403
        assert proc.poll() is None
    finally:
        stop(proc)


def test_a_sidecar_listening_off_loopback_is_not_stopped():
    proc, url = sidecar("--host", "0.0.0.0")  # reached on 127.0.0.1 all the same, but it lends nothing
    try:
        assert requests.post(f"{url}/v1/shutdown", timeout=10).status_code == 403
        assert proc.poll() is None
    finally:
        stop(proc)
