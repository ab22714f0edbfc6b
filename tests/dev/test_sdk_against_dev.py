"""The SDK and the CLI end to end, against the real `cifer dev` (sidecar and key service in one
process, as a user starts it) on a loopback port: real envelopes, real key service, real
streaming and real tampering."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cifer import (
    AsyncCiferClient, AuthenticationError, CiferClient, CiferRevokedError, InvalidCiphertextError, NotFoundError,
    StreamError,
)
from cifer import apikeys
from dev.running import cifer_dev

API_KEY = apikeys.generate_api_key(live=False)


@pytest.fixture(scope="module")
def dev_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with cifer_dev(tmp_path_factory.mktemp("dev") / "data", api_key=API_KEY) as server:
        yield server.url


@pytest.fixture
def env(dev_url, monkeypatch):
    monkeypatch.setenv("CIFER_PROXY_URL", dev_url)
    monkeypatch.setenv("CIFER_API_KEY", API_KEY)


@pytest.fixture
def client(env) -> Iterator[CiferClient]:
    with CiferClient() as c:
        yield c


def test_the_seeds_python_sdk_example(env, capsys):
    from cifer import CiferClient

    # Initialize client
    client = CiferClient(api_key=API_KEY)

    # Create CIFER
    my_cifer = client.cifers.create(name="my-encryption-key")

    # Encrypt
    encrypted = client.encrypt(my_cifer.id, b"secret data")

    # Decrypt
    decrypted = client.decrypt(encrypted.ciphertext)

    print(f"Decrypted: {decrypted.plaintext.decode()}")
    client.close()
    assert capsys.readouterr().out == "Decrypted: secret data\n"
    assert encrypted.ciphertext.startswith(b"CIFR\x00\x01")  # the real envelope: magic, version 1
    assert encrypted.algorithm.kem == "ML-KEM-768" and decrypted.cifer_id == my_cifer.id


def test_the_seeds_file_encryption_example(env, tmp_path):
    client = CiferClient(api_key=os.environ['CIFER_API_KEY'])

    def encrypt_file(cifer_id: str, input_path: str, output_path: str):
        """Encrypt a file using streaming."""
        with open(input_path, 'rb') as f_in:
            with client.encrypt_stream(cifer_id, f_in) as encrypted:
                with open(output_path, 'wb') as f_out:
                    for chunk in encrypted:
                        f_out.write(chunk)

    def decrypt_file(input_path: str, output_path: str):
        """Decrypt a file using streaming."""
        with open(input_path, 'rb') as f_in:
            with client.decrypt_stream(f_in) as decrypted:
                with open(output_path, 'wb') as f_out:
                    for chunk in decrypted:
                        f_out.write(chunk)

    data = os.urandom(5 * 1024 * 1024 + 123)
    (tmp_path / "plain").write_bytes(data)
    cifer_id = client.cifers.create(name="files").id
    encrypt_file(cifer_id, str(tmp_path / "plain"), str(tmp_path / "sealed"))
    decrypt_file(str(tmp_path / "sealed"), str(tmp_path / "opened"))
    assert (tmp_path / "opened").read_bytes() == data
    assert client.decrypt((tmp_path / "sealed").read_bytes()).plaintext == data  # the same envelope as JSON
    client.close()


def test_stream_metadata_comes_back_from_the_envelope(client):
    cifer_id = client.cifers.create(name="meta").id
    with client.encrypt_stream(cifer_id, io.BytesIO(b"x" * 1000), metadata={"filename": "a.bin"}) as encrypted:
        sealed = b"".join(encrypted)
        assert (encrypted.cifer_id, encrypted.key_version) == (cifer_id, 1)
    with client.decrypt_stream(sealed) as decrypted:
        assert b"".join(decrypted) == b"x" * 1000
        assert (decrypted.cifer_id, decrypted.key_version, decrypted.metadata) == (cifer_id, 1, {"filename": "a.bin"})


def test_a_tampered_late_chunk_cuts_the_stream_and_the_json_api_refuses_it(client):
    cifer_id = client.cifers.create(name="tamper").id
    sealed = bytearray(client.encrypt(cifer_id, os.urandom(3 * 1024 * 1024)).ciphertext)
    sealed[-100] ^= 0x01  # in the last chunk: earlier chunks verify and are released first
    received = 0
    with pytest.raises(StreamError):
        with client.decrypt_stream(bytes(sealed)) as decrypted:
            for chunk in decrypted:
                received += len(chunk)
    assert received > 0  # the answer had begun: only the cut-off tells
    with pytest.raises(InvalidCiphertextError):
        client.decrypt(bytes(sealed))


def test_a_truncated_envelope_never_decrypts_quietly(client):
    cifer_id = client.cifers.create(name="truncate").id
    sealed = client.encrypt(cifer_id, os.urandom(2 * 1024 * 1024)).ciphertext
    with pytest.raises((StreamError, InvalidCiphertextError)):
        with client.decrypt_stream(sealed[: len(sealed) // 2]) as decrypted:
            for _ in decrypted:
                pass


def test_management_calls_and_their_errors(client, dev_url):
    cifer = client.cifers.create(name="lifecycle", description="d", metadata={"team": "qa"})
    assert client.cifers.get(cifer.id).metadata == {"team": "qa"}
    assert cifer.id in [c.id for c in client.cifers.list(limit=100)]
    assert client.keys.get(cifer.id).key_version == 1
    old = client.encrypt(cifer.id, b"before rotation")
    rotation = client.cifers.rotate(cifer.id, re_encryption_window_days=1)
    assert (rotation.old_key_version, rotation.new_key_version) == (1, 2)
    assert client.decrypt(old).plaintext == b"before rotation"
    with pytest.raises(NotFoundError):
        client.cifers.get("cif_doesnotexist0000")
    with CiferClient(api_key="sk_test_" + "Z" * 56, base_url=dev_url) as stranger:
        with pytest.raises(AuthenticationError):
            stranger.cifers.list()
    client.cifers.revoke(cifer.id)
    with pytest.raises(CiferRevokedError):
        client.decrypt(old)


def test_webhooks(client):
    hook = client.webhooks.create("https://hooks.example.com/cifer", ["cifer.created"], "whsec_" + "s" * 24)
    assert hook.id in [h.id for h in client.webhooks.list(limit=100)]
    assert client.webhooks.get(hook.id).events == ["cifer.created"]
    assert client.webhooks.delete(hook.id).deleted


async def test_the_async_client_runs_calls_concurrently(env):
    async with AsyncCiferClient() as client:
        cifer = await client.cifers.create(name="async")
        sealed = await asyncio.gather(*(client.encrypt(cifer.id, bytes([i]) * 100) for i in range(8)))
        opened = await asyncio.gather(*(client.decrypt(s) for s in sealed))
    assert [o.plaintext for o in opened] == [bytes([i]) * 100 for i in range(8)]


def test_the_cli_round_trip(env, tmp_path):
    def cifer(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cifer.cli", *argv], input=stdin, capture_output=True, timeout=60)

    created = cifer("keys", "create", "cli-test", "-o", "json")
    assert created.returncode == 0, created.stderr
    cifer_id = json.loads(created.stdout)["cifer_id"]
    data = os.urandom(2 * 1024 * 1024)
    (tmp_path / "plain").write_bytes(data)
    assert cifer("encrypt", "--cifer-id", cifer_id, "-i", str(tmp_path / "plain"), "-o", str(tmp_path / "sealed"),
                 "--metadata", "source=cli").returncode == 0
    assert cifer("decrypt", "-i", str(tmp_path / "sealed"), "-o", str(tmp_path / "opened")).returncode == 0
    assert (tmp_path / "opened").read_bytes() == data
    piped = cifer("decrypt", stdin=(tmp_path / "sealed").read_bytes())
    assert piped.returncode == 0 and piped.stdout == data
    listed = json.loads(cifer("keys", "list", "--limit", "100", "-o", "json").stdout)
    assert cifer_id in [c["cifer_id"] for c in listed["cifers"]]
    tampered = bytearray((tmp_path / "sealed").read_bytes())
    tampered[-50] ^= 0x80
    (tmp_path / "tampered").write_bytes(bytes(tampered))
    failed = cifer("decrypt", "-i", str(tmp_path / "tampered"), "-o", str(tmp_path / "out"))
    assert failed.returncode == 5 and not (tmp_path / "out").exists() and b"Traceback" not in failed.stderr
    assert cifer("keys", "revoke", cifer_id, "--yes").returncode == 0
    revoked = cifer("decrypt", "-i", str(tmp_path / "sealed"), "-o", str(tmp_path / "out"))
    assert revoked.returncode == 4 and b"CIFER_REVOKED" in revoked.stderr
