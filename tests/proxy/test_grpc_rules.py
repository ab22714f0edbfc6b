"""gRPC and REST are one set of rules (docs/grpc.md): a real key service, a real `cifer proxy`
serving both, and one credential's calls on either counting against the same limits; and 2 GiB
through EncryptStream piped into DecryptStream in bounded sidecar memory."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cifer.v1 import cifer_pb2 as pb
from cifer.v1 import cifer_pb2_grpc
from ports import free_port
from proxy.processes import Api, sidecar_process
from proxy.test_memory import LIMIT_MIB, rss_mib

TOTAL = 2 * 1024**3
PIECE = 256 * 1024  # under the sidecar's message bound


def info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    found = error_details_pb2.ErrorInfo()
    next(d for d in status.details if d.Is(found.DESCRIPTOR)).Unpack(found)
    return found


async def test_the_same_refusals_and_one_decrypt_limit_across_rest_and_grpc(http, key_service):
    port = free_port()
    with sidecar_process(key_service.url, "--grpc-port", str(port)) as url:
        alice_key, bob_key = key_service.api_key("usr_alice"), key_service.api_key("usr_bob")
        alice, bob = Api(http, url, alice_key), Api(http, url, bob_key)
        cifer_id = await alice.new_cifer()
        _, sealed = await alice.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": "aGk="},
                                     expect=200)
        envelope = base64.b64decode(sealed["data"]["ciphertext"])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = cifer_pb2_grpc.CiferServiceStub(channel)
            as_bob = (("authorization", f"Bearer {bob_key}"),)
            as_alice = (("authorization", f"Bearer {alice_key}"),)
            _, rest = await bob.call("POST", "/v1/decrypt", json={"ciphertext": sealed["data"]["ciphertext"]},
                                     expect=403)
            try:
                await stub.Decrypt(pb.DecryptRequest(ciphertext=envelope), metadata=as_bob)
                raise AssertionError("bob decrypted alice's envelope over gRPC")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED
                found = info(error)
                assert found.reason == rest["error"]["code"] == "UNAUTHORIZED_DECRYPT"
                assert dict(found.metadata) == {k: str(v) for k, v in rest["error"]["details"].items()}
            if time.time() % 60 > 40:  # one fixed minute for the whole count (the key service's windows)
                await asyncio.sleep(61 - time.time() % 60)
            for n in range(100):  # the key service's 100 decrypts a minute, half by REST and half by gRPC
                if n % 2:
                    await alice.call("POST", "/v1/decrypt", json={"ciphertext": sealed["data"]["ciphertext"]},
                                     expect=200)
                else:
                    await stub.Decrypt(pb.DecryptRequest(ciphertext=envelope), metadata=as_alice)
            call = stub.Decrypt(pb.DecryptRequest(ciphertext=envelope), metadata=as_alice)
            try:
                await call
                raise AssertionError("the 101st decrypt in a minute was answered")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and info(error).reason == "RATE_LIMIT_EXCEEDED"
                retry = error_details_pb2.RetryInfo()
                status = rpc_status.from_call(error)
                next(d for d in status.details if d.Is(retry.DESCRIPTOR)).Unpack(retry)
                assert 0 < retry.retry_delay.seconds <= 60
                trailing = dict(await call.trailing_metadata())
                assert trailing["x-ratelimit-remaining"] == "0" and trailing["retry-after"] == str(retry.retry_delay.seconds)
            await alice.call("POST", "/v1/decrypt", json={"ciphertext": sealed["data"]["ciphertext"]}, expect=429)


async def test_two_gib_through_the_grpc_streams_in_bounded_memory(http, key_service):
    port, pids = free_port(), []
    with sidecar_process(key_service.url, "--grpc-port", str(port), pids=pids) as url:
        api_key = key_service.api_key("usr_alice")
        cifer_id = await Api(http, url, api_key).new_cifer()
        block = os.urandom(PIECE)
        sent, received, peak = hashlib.sha256(), hashlib.sha256(), [rss_mib(pids[0])]
        auth = (("authorization", f"Bearer {api_key}"),)

        async def plaintext():
            yield pb.EncryptStreamRequest(init=pb.EncryptStreamInit(cifer_id=cifer_id, total_size=TOTAL))
            for _ in range(TOTAL // PIECE):
                sent.update(block)
                yield pb.EncryptStreamRequest(chunk=block)

        async def sample():
            while True:
                peak.append(rss_mib(pids[0]))
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = cifer_pb2_grpc.CiferServiceStub(channel)
                sealing = stub.EncryptStream(plaintext(), metadata=auth)

                async def envelope():  # the envelope, piped into the decryption as it comes
                    async for answer in sealing:
                        if answer.WhichOneof("data") == "chunk":
                            yield pb.DecryptStreamRequest(chunk=answer.chunk)

                size = 0
                async for answer in stub.DecryptStream(envelope(), metadata=auth):
                    if answer.WhichOneof("data") == "chunk":
                        received.update(answer.chunk)
                        size += len(answer.chunk)
                    elif answer.WhichOneof("data") == "complete":
                        checksum = answer.complete.checksum
        finally:
            sampler.cancel()
        high_water = rss_mib(pids[0], "VmHWM")
    assert size == TOTAL and received.digest() == sent.digest() == checksum
    assert max(peak) < LIMIT_MIB and high_water < LIMIT_MIB, (max(peak), high_water)
