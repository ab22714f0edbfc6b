"""`CiferClient`, the blocking client: the seed's own snippets (§6.4, §10.2) run unchanged.

The server side is `tests/sdk_standin.py`, an aiohttp server on loopback standing in for the
sidecar. It runs on the test's event loop, so each blocking call is made from a worker thread
(`blocking`), as an application thread would make it.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading

import pytest
from sdk_standin import API_KEY, TRAILER, Standin, toy_envelope

from cifer import CiferClient, NotFoundError, StreamError


@pytest.fixture
async def standin(aiohttp_server, monkeypatch):
    fake = Standin()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("/"))
    monkeypatch.setenv("CIFER_PROXY_URL", fake.url)  # the seed's snippets name only the key
    return fake


async def blocking(func, *args):
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


async def test_the_seeds_python_sdk_example_runs_unchanged(standin, capsys):
    def seed_6_4():
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

    await blocking(seed_6_4)
    assert capsys.readouterr().out == "Decrypted: secret data\n"


async def test_the_seeds_file_encryption_example_runs_unchanged(standin, tmp_path):
    client = CiferClient(api_key=API_KEY)

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

    data = os.urandom(3 * 1024 * 1024 + 5)
    (tmp_path / "plain").write_bytes(data)
    cifer_id = (await blocking(lambda: client.cifers.create(name="files"))).id
    await blocking(encrypt_file, cifer_id, str(tmp_path / "plain"), str(tmp_path / "sealed"))
    assert (tmp_path / "sealed").read_bytes() == toy_envelope(cifer_id, data)
    await blocking(decrypt_file, str(tmp_path / "sealed"), str(tmp_path / "opened"))
    assert (tmp_path / "opened").read_bytes() == data
    await blocking(client.close)


async def test_a_cut_off_stream_raises_in_the_sync_client_too(standin):
    def run():
        with CiferClient(api_key=API_KEY) as client:
            cifer_id = client.cifers.create(name="k").id
            tampered = toy_envelope(cifer_id, os.urandom(300_000))[: -len(TRAILER)] + b"BAD!"
            with client.decrypt_stream(io.BytesIO(tampered)) as decrypted:
                for _ in decrypted:
                    pass

    with pytest.raises(StreamError):
        await blocking(run)


async def test_errors_raise_in_the_calling_thread_with_their_type(standin):
    def run():
        with CiferClient(api_key=API_KEY) as client:
            return client.cifers.get("cif_nosuchcifer00")

    with pytest.raises(NotFoundError):
        await blocking(run)


async def test_stream_headers_and_early_exit(standin):
    def run():
        with CiferClient(api_key=API_KEY) as client:
            cifer_id = client.cifers.create(name="k").id
            with client.decrypt_stream(toy_envelope(cifer_id, os.urandom(500_000), {"a": "b"})) as decrypted:
                seen = (decrypted.cifer_id, decrypted.key_version, decrypted.metadata)
                for _ in decrypted:
                    break
            return cifer_id, seen, client.decrypt(toy_envelope(cifer_id, b"after")).plaintext

    cifer_id, seen, after = await blocking(run)
    assert seen == (cifer_id, 1, {"a": "b"}) and after == b"after"


async def test_resources_keep_their_signatures_and_docs(standin):
    client = CiferClient(api_key=API_KEY)
    try:
        assert "irreversible" in client.cifers.revoke.__doc__.lower()
        import inspect

        assert list(inspect.signature(client.cifers.list).parameters) == ["status", "limit", "cursor"]
        assert list(inspect.signature(client.webhooks.update).parameters) == [
            "webhook_id", "url", "events", "secret", "cifer_ids", "idempotency_key"]
    finally:
        await blocking(client.close)


async def test_the_operators_calls_block_too_with_a_credential_function(standin):
    def run():
        with CiferClient(api_key=lambda: API_KEY) as client:
            cifer = client.cifers.create(name="k", idempotency_key="create-k")
            updated = client.cifers.update(cifer.id, description="d", idempotency_key="update-k")
            hook = client.webhooks.update("wh_" + "b" * 24, cifer_ids=[cifer.id])
            return cifer.id, updated.description, hook.cifer_ids

    cifer_id, description, cifer_ids = await blocking(run)
    assert (description, cifer_ids) == ("d", [cifer_id])
    assert [r.headers.get("X-Idempotency-Key") for r in standin.requests[:2]] == ["create-k", "update-k"]
    assert {r.headers["Authorization"] for r in standin.requests} == {f"Bearer {API_KEY}"}


def test_close_stops_the_loop_thread_and_later_calls_fail():
    before = {t.ident for t in threading.enumerate()}
    client = CiferClient(base_url="http://127.0.0.1:1")
    loop_threads = [t for t in threading.enumerate() if t.ident not in before]
    assert len(loop_threads) == 1 and loop_threads[0].daemon
    client.close()
    client.close()  # twice is fine
    assert not loop_threads[0].is_alive()
    with pytest.raises(RuntimeError):
        client.cifers.list()


def test_a_forgotten_client_is_cleaned_up_when_collected():
    import gc

    before = {t.ident for t in threading.enumerate()}
    client = CiferClient(base_url="http://127.0.0.1:1")
    (thread,) = [t for t in threading.enumerate() if t.ident not in before]
    del client
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
