"""Ciphertexts cross languages both ways (issue 20): what the Go SDK seals, the Python SDK and the
`cifer` CLI open, and what they seal, the Go SDK opens, through the JSON API and through
streams; and the Go SDK accepts the signatures the key service puts on webhook deliveries. The
Go side is sdk/go/internal/interop, a small command over the SDK."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cifer import CiferClient
from cifer.webhooks import signing
from sdk_go.gotool import build, go_environment


@pytest.fixture(scope="module")
def interop(tmp_path_factory) -> Path:
    return build("internal/interop", tmp_path_factory.mktemp("go") / "interop")


@pytest.fixture(scope="module")
def client(dev_server) -> Iterator[CiferClient]:
    with CiferClient(api_key=dev_server.api_key, base_url=dev_server.url) as c:
        yield c


@pytest.fixture(scope="module")
def cifer_id(client) -> str:
    return client.cifers.create(name="go-interop").id


def run_go(interop: Path, dev_server, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(interop), *map(str, args)], env=go_environment(dev_server.environment()),
                          capture_output=True, text=True, timeout=120)


def run_cli(dev_server, *args: str | Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cifer.cli", *map(str, args), "--no-progress"],
                          env=dev_server.environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("command", "size"), [("encrypt", 1000), ("encrypt-stream", 3 * 1024 * 1024 + 17)])
def test_go_ciphertexts_open_with_the_python_sdk_and_the_cli(interop, dev_server, client, cifer_id, tmp_path,
                                                             command, size):
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(size))
    sealed = tmp_path / "sealed"
    made = run_go(interop, dev_server, command, cifer_id, plain, sealed)
    assert made.returncode == 0, made.stderr
    envelope = sealed.read_bytes()
    assert envelope.startswith(b"CIFR\x00\x01")
    opened = client.decrypt(envelope)
    assert opened.plaintext == plain.read_bytes() and opened.cifer_id == cifer_id
    run_cli(dev_server, "decrypt", "-i", sealed, "-o", tmp_path / "by-cli")
    assert (tmp_path / "by-cli").read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("command", ["decrypt", "decrypt-stream"])
def test_python_sdk_ciphertexts_open_with_go(interop, dev_server, client, cifer_id, tmp_path, command):
    plain = os.urandom(200_000)
    (tmp_path / "sealed").write_bytes(client.encrypt(cifer_id, plain).ciphertext)
    opened = run_go(interop, dev_server, command, tmp_path / "sealed", tmp_path / "opened")
    assert opened.returncode == 0, opened.stderr
    assert (tmp_path / "opened").read_bytes() == plain


@pytest.mark.parametrize("command", ["decrypt", "decrypt-stream"])
def test_cli_ciphertexts_open_with_go(interop, dev_server, cifer_id, tmp_path, command):
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(1024 * 1024 + 3))
    run_cli(dev_server, "encrypt", "--cifer-id", cifer_id, "-i", plain, "-o", tmp_path / "sealed")
    opened = run_go(interop, dev_server, command, tmp_path / "sealed", tmp_path / "opened")
    assert opened.returncode == 0, opened.stderr
    assert (tmp_path / "opened").read_bytes() == plain.read_bytes()


def test_go_refuses_a_tampered_python_ciphertext_and_leaves_no_output(interop, dev_server, client, cifer_id, tmp_path):
    sealed = bytearray()
    with client.encrypt_stream(cifer_id, os.urandom(1024 * 1024)) as stream:
        for chunk in stream:
            sealed += chunk
    sealed[-500] ^= 0x01
    (tmp_path / "sealed").write_bytes(bytes(sealed))
    opened = run_go(interop, dev_server, "decrypt-stream", tmp_path / "sealed", tmp_path / "opened")
    assert opened.returncode == 2 and "STREAM_ABORTED" in opened.stderr, opened.stderr
    assert not (tmp_path / "opened").exists()


def test_go_verifies_the_key_services_webhook_signatures(interop, dev_server, tmp_path):
    secret = "whsec_go_interop_0123456789"
    body = signing.encode_payload({"id": "evt_go", "type": "cifer.created", "created": "2026-12-05T10:30:00Z",
                                   "data": {"cifer_id": "cif_abcdefghijkl", "name": "é"}})
    headers = signing.headers(secret, body, event_id="evt_go", timestamp=int(time.time()))
    (tmp_path / "body").write_bytes(body)
    (tmp_path / "tampered").write_bytes(body.replace(b"created", b"revoked", 1))
    for header in (headers[signing.SIGNATURE_HEADER], headers[signing.SIGNATURE_V2_HEADER]):
        assert run_go(interop, dev_server, "verify-webhook", tmp_path / "body", header, secret).returncode == 0
        assert run_go(interop, dev_server, "verify-webhook", tmp_path / "tampered", header, secret).returncode == 1
        assert run_go(interop, dev_server, "verify-webhook", tmp_path / "body", header, secret + "x").returncode == 1
    old = signing.signature_v2(secret, body, timestamp=int(time.time()) - 3600)
    assert run_go(interop, dev_server, "verify-webhook", tmp_path / "body", old, secret).returncode == 1
