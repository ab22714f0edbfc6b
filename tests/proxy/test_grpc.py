"""The sidecar's gRPC API (seed 000 §5, docs/grpc.md) against a real `cifer dev` with `--grpc-port`:
the seed's §5.2 flow (create, then encrypt) and the rest of the unary calls, interoperating with
REST both ways, and errors as the documented status table with the seed's code in ErrorInfo."""

from __future__ import annotations

import base64
import urllib.request

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from cifer.v1 import cifer_pb2 as pb
from cifer.v1 import cifer_pb2_grpc
from dev.running import api_call, cifer_dev
from ports import free_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    with cifer_dev(tmp_path_factory.mktemp("dev") / "data", "--grpc-port", str(port)) as server:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield server, cifer_pb2_grpc.CiferServiceStub(channel), channel, f"127.0.0.1:{port}"


def auth(server) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {server.api_key}"),)


def refusal(call, *args, **kwargs) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """The status code, and the seed's code and details from the status's ErrorInfo."""
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    status = rpc_status.from_call(caught.value)
    assert status is not None, caught.value
    [detail] = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    info = error_details_pb2.ErrorInfo()
    detail.Unpack(info)
    assert info.domain == "cifer.io"
    return caught.value.code(), info.reason, dict(info.metadata)


def test_the_seeds_flow_create_then_encrypt_and_back(stack):
    server, stub, _, _ = stack
    created = stub.CreateCifer(pb.CreateCiferRequest(name="my-key"), metadata=auth(server))
    assert created.cifer_id.startswith("cif_") and created.status == pb.CIFER_STATUS_ACTIVE
    assert created.key_version == 1 and len(created.encapsulation_key) > 1000
    sealed = stub.Encrypt(pb.EncryptRequest(cifer_id=created.cifer_id, plaintext=b"Hello, World!",
                                            metadata={"purpose": "grpc"}), metadata=auth(server))
    assert sealed.envelope_size == len(sealed.ciphertext) and sealed.algorithm.kem == "ML-KEM-768"
    opened, call = stub.Decrypt.with_call(pb.DecryptRequest(ciphertext=sealed.ciphertext),
                                          metadata=(*auth(server), ("x-request-id", "req-grpc-1")))
    assert (opened.plaintext, opened.cifer_id, opened.key_version) == (b"Hello, World!", created.cifer_id, 1)
    assert opened.metadata == {"purpose": "grpc"}
    trailing = dict(call.trailing_metadata())
    assert trailing["x-request-id"] == "req-grpc-1"  # a unary call's: trailing, in one send with the answer
    assert int(trailing["x-ratelimit-limit"]) > 0 and "x-ratelimit-remaining" in trailing  # the key service's

    key = stub.GetPublicKey(pb.GetPublicKeyRequest(cifer_id=created.cifer_id), metadata=auth(server))
    assert key.encapsulation_key == created.encapsulation_key and key.algorithm.aead == "AES-256-GCM"
    got = stub.GetCifer(pb.GetCiferRequest(cifer_id=created.cifer_id), metadata=auth(server))
    assert got.name == "my-key" and got.created_at.seconds == created.created_at.seconds
    rotated = stub.RotateKey(pb.RotateKeyRequest(cifer_id=created.cifer_id, reason="test"), metadata=auth(server))
    assert (rotated.old_key_version, rotated.new_key_version) == (1, 2)
    again = stub.Encrypt(pb.EncryptRequest(cifer_id=created.cifer_id, plaintext=b"x"), metadata=auth(server))
    assert stub.Decrypt(pb.DecryptRequest(ciphertext=again.ciphertext), metadata=auth(server)).key_version == 2


def test_rest_and_grpc_open_each_others_envelopes(stack):
    server, stub, _, _ = stack
    cifer_id = stub.CreateCifer(pb.CreateCiferRequest(name="interop"), metadata=auth(server)).cifer_id
    by_grpc = stub.Encrypt(pb.EncryptRequest(cifer_id=cifer_id, plaintext=b"from gRPC"), metadata=auth(server))
    status, body = api_call(server, "POST", "/v1/decrypt", {"ciphertext": base64.b64encode(by_grpc.ciphertext).decode()})
    assert status == 200 and base64.b64decode(body["data"]["plaintext"]) == b"from gRPC"
    status, body = api_call(server, "POST", "/v1/encrypt", {"cifer_id": cifer_id, "plaintext": "ZnJvbSBSRVNU"})
    assert status == 200
    opened = stub.Decrypt(pb.DecryptRequest(ciphertext=base64.b64decode(body["data"]["ciphertext"])),
                          metadata=auth(server))
    assert opened.plaintext == b"from REST"


def test_errors_follow_the_table_with_the_seeds_code(stack):
    server, stub, _, _ = stack
    assert refusal(stub.Encrypt, pb.EncryptRequest(cifer_id="cif_x", plaintext=b"x"))[:2] == (
        grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED")  # no credential, and cifer dev lends none
    bad = (("authorization", "Bearer sk_test_" + "0" * 40),)
    assert refusal(stub.Encrypt, pb.EncryptRequest(cifer_id="cif_x", plaintext=b"x"), metadata=bad)[:2] == (
        grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED")
    code, reason, details = refusal(stub.GetCifer, pb.GetCiferRequest(cifer_id="not-a-cifer"), metadata=auth(server))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CIFER_ID")
    assert refusal(stub.GetCifer, pb.GetCiferRequest(cifer_id="cif_" + "A" * 24), metadata=auth(server))[:2] == (
        grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    assert refusal(stub.Decrypt, pb.DecryptRequest(ciphertext=b"not an envelope"), metadata=auth(server))[:2] == (
        grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CIPHERTEXT")
    cifer_id = stub.CreateCifer(pb.CreateCiferRequest(name="doomed"), metadata=auth(server)).cifer_id
    code, reason, details = refusal(stub.RevokeCifer, pb.RevokeCiferRequest(cifer_id=cifer_id), metadata=auth(server))
    assert (code, reason, details["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", "confirm")
    revoked = stub.RevokeCifer(pb.RevokeCiferRequest(cifer_id=cifer_id, confirm=True), metadata=auth(server))
    assert revoked.status == pb.CIFER_STATUS_REVOKED and revoked.revoked_at.seconds > 0
    assert refusal(stub.Encrypt, pb.EncryptRequest(cifer_id=cifer_id, plaintext=b"x"), metadata=auth(server))[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION, "CIFER_REVOKED")


def test_list_pages_as_rest_does(stack):
    server, stub, _, _ = stack
    made = {stub.CreateCifer(pb.CreateCiferRequest(name=f"page-{n}"), metadata=auth(server)).cifer_id for n in range(3)}
    first = stub.ListCifers(pb.ListCifersRequest(limit=2), metadata=auth(server))
    assert len(first.cifers) == 2 and first.has_more and first.next_cursor
    seen, cursor = {c.cifer_id for c in first.cifers}, first.next_cursor
    while cursor:
        page = stub.ListCifers(pb.ListCifersRequest(limit=2, cursor=cursor), metadata=auth(server))
        seen |= {c.cifer_id for c in page.cifers}
        cursor = page.next_cursor if page.has_more else ""
    assert made <= seen
    revoked = stub.ListCifers(pb.ListCifersRequest(status=pb.CIFER_STATUS_REVOKED), metadata=auth(server))
    assert all(c.status == pb.CIFER_STATUS_REVOKED for c in revoked.cifers)
    assert refusal(stub.ListCifers, pb.ListCifersRequest(status=pb.CIFER_STATUS_ROTATING), metadata=auth(server))[:2] == (
        grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST")


def test_every_rpc_has_one_rest_twin_in_the_endpoint_table():
    from cifer.api import endpoints
    declared = [rpc for endpoint in endpoints.ENDPOINTS for rpc in endpoint.rpcs]
    assert sorted(declared) == sorted(pb.DESCRIPTOR.services_by_name["CiferService"].methods_by_name)


def test_health_and_reflection_answer_standard_clients(stack):
    _, _, channel, _ = stack
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "cifer.v1.CiferService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    [listed] = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {service.name for service in listed.list_services_response.service}
    assert {"cifer.v1.CiferService", "grpc.health.v1.Health"} <= names
    [found] = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="cifer.v1.GetPublicKeyResponse")]))
    assert found.file_descriptor_response.file_descriptor_proto  # what a client made from the seed's text lacks


def stream_in(cifer_id: str, data: bytes, piece: int = 65536):
    yield pb.EncryptStreamRequest(init=pb.EncryptStreamInit(cifer_id=cifer_id, total_size=len(data),
                                                            metadata={"file": "big.bin"}))
    for start in range(0, len(data), piece):
        yield pb.EncryptStreamRequest(chunk=data[start:start + piece])


def envelope_in(envelope: bytes, piece: int = 50_000):
    yield pb.DecryptStreamRequest(init=pb.DecryptStreamInit(total_size=len(envelope)))
    for start in range(0, len(envelope), piece):
        yield pb.DecryptStreamRequest(chunk=envelope[start:start + piece])


def test_streams_round_trip_with_checksums_and_interoperate_with_rest(stack):
    import hashlib
    import os
    server, stub, _, _ = stack
    cifer_id = stub.CreateCifer(pb.CreateCiferRequest(name="streams"), metadata=auth(server)).cifer_id
    data = os.urandom(3 * 1024 * 1024 + 123)
    answers = list(stub.EncryptStream(stream_in(cifer_id, data), metadata=auth(server)))
    kinds = [a.WhichOneof("data") for a in answers]
    assert kinds[0] == "header" and kinds[-1] == "complete" and set(kinds[1:-1]) == {"chunk"}
    envelope = b"".join(a.chunk for a in answers[1:-1])
    assert answers[0].header.total_size == len(envelope)
    assert answers[-1].complete.checksum == hashlib.sha256(envelope).digest()
    opened = list(stub.DecryptStream(envelope_in(envelope), metadata=auth(server)))
    assert opened[0].header.cifer_id == cifer_id and opened[0].header.metadata == {"file": "big.bin"}
    plaintext = b"".join(a.chunk for a in opened[1:-1])
    assert plaintext == data and opened[-1].complete.checksum == hashlib.sha256(data).digest()
    rest = urllib.request.Request(server.url + "/v1/decrypt", data=envelope, method="POST", headers={
        "Authorization": f"Bearer {server.api_key}", "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(rest, timeout=60) as resp:  # REST's binary stream opens gRPC's envelope
        assert resp.read() == data


def test_a_tampered_stream_ends_in_an_error_and_releases_nothing_past_the_bad_chunk(stack):
    server, stub, _, _ = stack
    cifer_id = stub.CreateCifer(pb.CreateCiferRequest(name="tamper"), metadata=auth(server)).cifer_id
    data = bytes(range(256)) * 4096  # 1 MiB: sixteen 64 KiB chunks
    envelope = bytearray(b"".join(a.chunk for a in stub.EncryptStream(stream_in(cifer_id, data), metadata=auth(server))
                                  if a.WhichOneof("data") == "chunk"))
    envelope[len(envelope) // 2] ^= 1  # a byte in the ninth chunk
    received = b""
    with pytest.raises(grpc.RpcError) as caught:
        for answer in stub.DecryptStream(envelope_in(bytes(envelope)), metadata=auth(server)):
            received += answer.chunk
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(received) <= len(data) // 2 and data.startswith(received)  # only chunks that authenticated
    truncated = bytes(envelope[: len(envelope) // 4])
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.DecryptStream(envelope_in(truncated), metadata=auth(server)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_client_generated_from_the_seeds_text_runs_the_seeds_flow(stack, tmp_path):
    """Seed §5.1's text, completed from the server's reflection where it names undefined messages,
    compiled and run in a fresh interpreter that imports nothing of CIFER's (seed_grpc_client.py)."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    server, _, _, target = stack
    seed = Path(__file__).resolve().parents[1] / "vectors" / "seed-000-section-5.1.proto"  # verbatim
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("seed_grpc_client.py")), str(seed), target,
                          server.api_key, str(tmp_path)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["cifer_modules"] == []  # nothing of the project's generated code
    assert result["cifer_id"].startswith("cif_") and result["envelope_size"] > len("Hello, World!")
    assert result["plaintext"] == "Hello, World!" and result["public_key_bytes"] > 1000
    assert (result["key_version"], result["new_key_version"], result["revoked_status"]) == (1, 2, pb.CIFER_STATUS_REVOKED)
    assert "From the server's reflection" in (tmp_path / "cifer_seed.proto").read_text()


def test_the_table_maps_every_seed_code_with_its_details():
    from cifer.api.errors import ApiError, ErrorCode
    from cifer.api.grpc_codes import STATUS_OF
    from cifer_proxy.grpc_api import status_of
    documented = open(__file__.replace("tests/proxy/test_grpc.py", "docs/grpc.md")).read()
    for code in ErrorCode:
        headers = {"Retry-After": "7"} if code is ErrorCode.RATE_LIMIT_EXCEEDED else {}
        status = status_of(ApiError(code, details={"field": "x", "limit": 100}, headers=headers))
        assert status.code == getattr(grpc.StatusCode, STATUS_OF[code]) and status.details == code.default_message
        [(key, raw)] = status.trailing_metadata
        rich = status_pb2.Status.FromString(raw)
        info = error_details_pb2.ErrorInfo()
        rich.details[0].Unpack(info)
        assert (key, info.reason, info.domain, dict(info.metadata)) == (
            "grpc-status-details-bin", code.name, "cifer.io", {"field": "x", "limit": "100"})
        retry = [d for d in rich.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
        assert len(retry) == (code is ErrorCode.RATE_LIMIT_EXCEEDED)
        assert f"`{code.name}`" in documented and f"`{STATUS_OF[code]}`" in documented  # the table says so


def test_calls_are_counted_and_timed_beside_rest(stack):
    import urllib.request
    server, stub, _, _ = stack
    cifer_id = stub.CreateCifer(pb.CreateCiferRequest(name="metered"), metadata=auth(server)).cifer_id
    stub.Encrypt(pb.EncryptRequest(cifer_id=cifer_id, plaintext=b"x"), metadata=auth(server))
    refusal(stub.GetCifer, pb.GetCiferRequest(cifer_id="cif_" + "B" * 24), metadata=auth(server))
    list(stub.EncryptStream(stream_in(cifer_id, b"y" * 10), metadata=auth(server)))
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as resp:
        exposed = resp.read().decode()
    for line in ('cifer_grpc_requests_total{code="OK",method="Encrypt"}',
                 'cifer_grpc_requests_total{code="NOT_FOUND",method="GetCifer"}',
                 'cifer_grpc_requests_total{code="OK",method="EncryptStream"}',
                 'cifer_grpc_request_duration_seconds_count{method="Encrypt"}'):
        assert line in exposed, line
