"""The SDK's gRPC clients (cifer/sdk/grpc_client.py) against a real `cifer dev --grpc-port`: the REST
clients' surface with the same models and typed errors, streams in bounded pieces, envelopes that
REST's CiferClient opens and the reverse, and grpc imported only once a gRPC client is made."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys

import grpc
import pytest

from cifer.sdk import (
    AsyncCiferGrpcClient, CiferClient, CiferConnectionError, CiferGrpcClient, CiferRevokedError, DecryptResult,
    EncryptResult, InvalidCiferIdError, NotFoundError, PublicKey, RateLimitError, StreamError, UnauthorizedDecryptError,
)
from dev.running import cifer_dev
from ports import free_port

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    port = free_port()
    with cifer_dev(tmp_path_factory.mktemp("dev") / "data", "--grpc-port", str(port)) as server:
        yield server, f"127.0.0.1:{port}"


@pytest.fixture
def client(dev):
    server, target = dev
    with CiferGrpcClient(server.api_key, target=target) as made:
        yield made


def other_key(data_dir) -> str:
    """An API key of another owner, as tests/dev/test_dev_admin.py makes one."""
    made = subprocess.run([sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data_dir), "apikey",
                           "create", "--owner", "usr_other", "--scope", "encrypt", "--scope", "decrypt"],
                          check=True, capture_output=True, text=True, timeout=60)
    return json.loads(made.stdout)["key"]


def pieces(data: bytes, sizes=(1, 1000, 70_000, 300_000)):
    """`data` in uneven pieces, some larger than a message, as a caller's iterable may yield it."""
    at, n = 0, 0
    while at < len(data):
        size = sizes[n % len(sizes)]
        yield data[at:at + size]
        at, n = at + size, n + 1


def test_the_blocking_client_round_trips_with_the_rest_clients_models(client):
    made = client.cifers.create("grpc-sdk", description="through gRPC", metadata={"team": "sdk"},
                                policy={"allowed_operations": ["encrypt", "decrypt", "rotate", "revoke"]})
    assert made.id.startswith("cif_") and made.status == "active" and made.key_version == 1
    assert made.metadata == {"team": "sdk"} and made.encapsulation_key and made.created_at is not None
    assert client.cifers.get(made.id).description == "through gRPC"
    assert made.id in {c.id for c in client.cifers.list(status="active", limit=100)}
    key = client.keys.get(made.id)
    assert isinstance(key, PublicKey) and key.encapsulation_key == made.encapsulation_key and key.key_version == 1

    sealed = client.encrypt(made.id, b"Hello, gRPC", metadata={"purpose": "test"})
    assert isinstance(sealed, EncryptResult) and sealed.envelope_size == len(sealed.ciphertext)
    assert (sealed.cifer_id, sealed.key_version, sealed.metadata) == (made.id, 1, {"purpose": "test"})
    assert sealed.algorithm.kem == "ML-KEM-768" and sealed.algorithm.aead
    opened = client.decrypt(sealed)  # an EncryptResult, as CiferClient.decrypt takes it
    assert isinstance(opened, DecryptResult)
    assert (opened.plaintext, opened.cifer_id, opened.key_version, opened.metadata) == (
        b"Hello, gRPC", made.id, 1, {"purpose": "test"})

    rotated = client.cifers.rotate(made.id, reason="test", idempotency_key="idem-grpc-sdk-rotate")
    assert (rotated.old_key_version, rotated.new_key_version) == (1, 2) and rotated.re_encryption_deadline
    assert client.decrypt(sealed.ciphertext).plaintext == b"Hello, gRPC"  # the old version still opens
    assert client.encrypt(made.id, b"x").key_version == 2
    revoked = client.cifers.revoke(made.id)
    assert revoked.status == "revoked" and revoked.revoked_at is not None


def test_the_asyncio_client_round_trips(dev):
    server, target = dev

    async def run():
        async with AsyncCiferGrpcClient(server.api_key, target=target) as client:
            made = await client.cifers.create("grpc-async")
            sealed = await client.encrypt(made.id, b"async secret")
            opened = await client.decrypt(sealed.ciphertext)
            page = await client.cifers.list(limit=100)
            return made, opened, page

    made, opened, page = asyncio.run(run())
    assert (opened.plaintext, opened.cifer_id) == (b"async secret", made.id)
    assert made.id in {c.id for c in page}


def test_the_target_and_key_come_from_the_environment(dev, monkeypatch):
    server, target = dev
    monkeypatch.setenv("CIFER_GRPC_TARGET", target)
    monkeypatch.setenv("CIFER_API_KEY", server.api_key)
    with CiferGrpcClient() as client:
        assert client.target == target
        assert client.cifers.create("from-env").status == "active"


def test_streams_of_a_few_mib_round_trip_in_pieces(client):
    cifer_id = client.cifers.create("grpc-stream").id
    data = hashlib.shake_256(b"grpc stream").digest(3 * MIB + 12345)
    with client.encrypt_stream(cifer_id, pieces(data), metadata={"file": "big.bin"}) as encrypted:
        assert (encrypted.cifer_id, encrypted.key_version, encrypted.algorithm) == (cifer_id, 1, "ML-KEM-768")
        envelope = b"".join(encrypted)
    assert client.decrypt(envelope).plaintext == data  # one envelope, whichever way it was made
    with client.decrypt_stream(pieces(envelope)) as decrypted:
        out = [chunk for chunk in decrypted]
        assert (decrypted.cifer_id, decrypted.key_version, decrypted.metadata) == (cifer_id, 1, {"file": "big.bin"})
    assert max(map(len, out)) <= 1 * MIB and b"".join(out) == data


def test_async_streams_take_async_iterables(dev):
    server, target = dev
    data = hashlib.shake_256(b"async stream").digest(2 * MIB + 7)

    async def source(blob):
        for piece in pieces(blob):
            yield piece

    async def run():
        async with AsyncCiferGrpcClient(server.api_key, target=target) as client:
            cifer_id = (await client.cifers.create("grpc-async-stream")).id
            async with client.encrypt_stream(cifer_id, source(data)) as encrypted:
                envelope = b"".join([chunk async for chunk in encrypted])
            async with client.decrypt_stream(source(envelope)) as decrypted:
                return cifer_id, decrypted.cifer_id, b"".join([chunk async for chunk in decrypted])

    cifer_id, opened_id, plaintext = asyncio.run(run())
    assert opened_id == cifer_id and plaintext == data


def test_an_altered_chunk_ends_the_decrypt_stream_with_stream_error(client):
    cifer_id = client.cifers.create("grpc-tamper").id
    with client.encrypt_stream(cifer_id, b"z" * (3 * MIB)) as encrypted:
        envelope = bytearray(b"".join(encrypted))
    envelope[-100] ^= 1  # in the last chunk: the earlier ones authenticate and are released
    with client.decrypt_stream(bytes(envelope)) as decrypted:
        with pytest.raises(StreamError) as caught:
            for _ in decrypted:
                pass
    assert caught.value.code == "INVALID_CIPHERTEXT"


def test_refusals_are_the_sdks_typed_errors(client, dev):
    server, _ = dev
    cifer_id = client.cifers.create("grpc-doomed").id
    sealed = client.encrypt(cifer_id, b"before revocation")
    client.cifers.revoke(cifer_id)
    with pytest.raises(CiferRevokedError) as caught:
        client.encrypt(cifer_id, b"after")
    assert caught.value.code == "CIFER_REVOKED" and caught.value.status == 410 and caught.value.message
    with pytest.raises(CiferRevokedError):
        client.decrypt(sealed)
    with pytest.raises(NotFoundError):
        client.cifers.get("cif_" + "A" * 24)
    with pytest.raises(InvalidCiferIdError) as invalid:
        client.cifers.get("not-a-cifer")
    assert invalid.value.request_id


def test_another_owners_envelope_is_unauthorized_decrypt(client, dev):
    server, target = dev
    sealed = client.encrypt(client.cifers.create("grpc-mine").id, b"mine")
    with CiferGrpcClient(other_key(server.data_dir), target=target) as theirs:
        with pytest.raises(UnauthorizedDecryptError) as caught:
            theirs.decrypt(sealed)
        assert caught.value.cifer_id == sealed.cifer_id  # REST's details, through ErrorInfo's metadata
        with pytest.raises(UnauthorizedDecryptError):
            with theirs.decrypt_stream(sealed.ciphertext) as opened:
                b"".join(opened)


def test_a_failing_source_is_raised_as_itself(client):
    cifer_id = client.cifers.create("grpc-failing-source").id

    def source():
        yield b"a" * 100_000
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        with client.encrypt_stream(cifer_id, source()) as encrypted:
            b"".join(encrypted)


def test_a_rate_limit_status_is_rate_limit_error_with_retry_info():
    from google.protobuf import any_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2
    from grpc_status import rpc_status

    from cifer.sdk.grpc_calls import error_of

    info, retry = any_pb2.Any(), any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="RATE_LIMIT_EXCEEDED", domain="cifer.io", metadata={"limit": "100"}))
    retry.Pack(error_details_pb2.RetryInfo(retry_delay={"seconds": 7}))
    status = rpc_status.to_status(status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down",
                                                    details=[info, retry]))

    class Refused(grpc.RpcError):  # what a failed call raises, as grpc_status reads it
        code, details = (lambda self: status.code), (lambda self: status.details)
        initial_metadata = lambda self: (("x-request-id", "req-1"),)  # noqa: E731
        trailing_metadata = lambda self: status.trailing_metadata  # noqa: E731

    error = error_of(Refused(), "127.0.0.1:9090")
    assert isinstance(error, RateLimitError) and error.retry_after == 7.0 and error.details == {"limit": "100"}
    assert (error.message, error.status, error.request_id) == ("slow down", 429, "req-1")


def test_no_sidecar_is_a_connection_error():
    with CiferGrpcClient("sk_test_x", target=f"127.0.0.1:{free_port()}", max_retries=0) as client:
        with pytest.raises(CiferConnectionError):
            client.encrypt("cif_" + "A" * 24, b"x")


def test_envelopes_interoperate_with_the_rest_client_both_ways(client, dev):
    server, _ = dev
    cifer_id = client.cifers.create("grpc-interop").id
    with CiferClient(server.api_key, base_url=server.url) as rest:
        assert rest.decrypt(client.encrypt(cifer_id, b"from gRPC")).plaintext == b"from gRPC"
        assert client.decrypt(rest.encrypt(cifer_id, b"from REST")).plaintext == b"from REST"
        data = b"s" * (MIB + 3)
        with rest.encrypt_stream(cifer_id, data) as encrypted:
            by_rest = b"".join(encrypted)
        with client.decrypt_stream(by_rest) as decrypted:
            assert b"".join(decrypted) == data
        with client.encrypt_stream(cifer_id, data) as encrypted:
            by_grpc = b"".join(encrypted)
        with rest.decrypt_stream(by_grpc) as decrypted:
            assert b"".join(decrypted) == data


def test_import_cifer_does_not_import_grpc():
    code = ("import sys, cifer\nfrom cifer import CiferClient\nfrom cifer.sdk import CiferGrpcClient\n"
            "loaded = sorted(m for m in sys.modules if m == 'grpc' or m.startswith(('grpc.', 'grpc_', 'google.protobuf', 'cifer.v1')))\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_grpcio_a_client_names_the_extra():
    code = ("import sys; sys.modules['grpc'] = None\nfrom cifer import CiferGrpcClient\n"
            "from cifer.extras import MissingExtra\ntry:\n    CiferGrpcClient()\nexcept MissingExtra as e:\n"
            "    print(e)\nelse:\n    raise SystemExit('no MissingExtra')")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert "grpc extra" in done.stdout and "pip install 'cifer[grpc]'" in done.stdout
