"""`cifer inference` over TLS: it serves the certificate it is given, and the FHE clients verify
it against a CA bundle (`ca=`), as the sidecar does with `--inference-ca`."""

from __future__ import annotations

import subprocess
import urllib.error

import pytest

from certificates import TestCA, wait_until_healthy_over_tls, write_pair
from cifer.fhe.client import AsyncFHEClient, FHEClient
from ports import free_port
from proxy.processes import cifer_command, stop


@pytest.fixture
def tls_inference(tmp_path):
    ca = TestCA()
    cert, key = write_pair(tmp_path / "tls", ca.issue())
    ca_file = ca.write_ca(tmp_path / "ca.crt")
    port = free_port()
    proc = subprocess.Popen(cifer_command("inference", "--port", str(port), "--tls-cert-file", str(cert),
                                          "--tls-key-file", str(key)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_until_healthy_over_tls(url, proc, ca_file)
        yield url, ca_file
    finally:
        stop(proc)


async def test_the_fhe_clients_verify_the_inference_service_against_their_ca(tls_inference, tmp_path):
    url, ca_file = tls_inference
    with FHEClient(url, ca=str(ca_file)) as client:
        assert client.models()
    async with AsyncFHEClient(url, ca=ca_file.read_text()) as client:
        assert await client.models()
    other = TestCA("another CA").write_ca(tmp_path / "other.crt")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        FHEClient(url, ca=str(other)).models()


async def test_the_sidecar_infers_over_tls_with_its_inference_ca_and_refuses_another(tls_inference, tmp_path):
    import aiohttp

    from proxy.processes import Api, keyservice_process, sidecar_process

    url, ca_file = tls_inference
    other = TestCA("another CA").write_ca(tmp_path / "other.crt")
    request = {"model_id": "demo-linear-classifier", "features": [0.0] * 64}
    with keyservice_process(tmp_path / "keyservice") as key_service, \
            sidecar_process(key_service.url, "--inference-url", url, "--inference-ca", str(ca_file)) as good, \
            sidecar_process(key_service.url, "--inference-url", url, "--inference-ca", str(other)) as wrong:
        key = key_service.api_key("usr_app")
        async with aiohttp.ClientSession() as http:
            _, answer = await Api(http, good, key).call("POST", "/v1/infer", json=request, expect=200)
            assert answer["data"]["encrypted"] is True
            resp, refused = await Api(http, wrong, key).call("POST", "/v1/infer", json=request)
    assert resp.status == 503 and refused["error"]["code"] == "SERVICE_UNAVAILABLE", refused
