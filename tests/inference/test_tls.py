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
