"""Where the sidecar's gRPC API listens (docs/grpc.md): 9090 unless told, where grpcio is installed;
a port in use stops the start with a line saying so (gRPC's SO_REUSEPORT is off, so two sidecars never share
one); and each call is logged as REST's requests are, without its credential."""

from __future__ import annotations

import logging
import subprocess

import grpc
import pytest

from cifer import extras
from cifer.settings.sidecar import DEFAULT_GRPC_PORT, SidecarSettings
from cifer.v1 import cifer_pb2 as pb
from cifer.v1 import cifer_pb2_grpc
from cifer_proxy.app import create_app, with_grpc_port
from ports import free_port
from proxy.processes import cifer_command, sidecar_process

NOWHERE = "http://127.0.0.1:1"  # no key service: these calls never reach one


def test_unset_the_port_is_9090_where_grpcio_is_installed_and_none_where_it_is_not(monkeypatch):
    assert DEFAULT_GRPC_PORT == 9090
    assert with_grpc_port(SidecarSettings(keyservice_url=NOWHERE)).grpc_port == 9090
    assert with_grpc_port(SidecarSettings(keyservice_url=NOWHERE, grpc_port=0)).grpc_port == 0
    assert with_grpc_port(SidecarSettings(keyservice_url=NOWHERE, grpc_port=9191)).grpc_port == 9191
    monkeypatch.setattr(extras, "importable", lambda module: module != "grpc")  # a base install
    assert with_grpc_port(SidecarSettings(keyservice_url=NOWHERE)).grpc_port == 0
    assert with_grpc_port(SidecarSettings(keyservice_url=NOWHERE, grpc_port=9191)).grpc_port == 9191


def test_a_second_sidecar_on_a_grpc_port_in_use_stops_in_one_line_and_the_first_keeps_it():
    port = free_port()
    with sidecar_process(NOWHERE, "--grpc-port", str(port)):
        second = subprocess.run(cifer_command("proxy", "--keyservice-url", NOWHERE, "--port", str(free_port()),
                                              "--grpc-port", str(port)), capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        # gRPC's C core logs its own line first ("... Address already in use"); then ours, no traceback.
        assert second.stderr.strip().splitlines()[-1] == (
            f"cifer proxy: cannot listen for gRPC on 127.0.0.1:{port} (in use?); --grpc-port names another port, "
            "0 none"), second.stderr
        assert "Traceback" not in second.stderr
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:  # the first still answers there
            with pytest.raises(grpc.RpcError) as refused:
                cifer_pb2_grpc.CiferServiceStub(channel).GetCifer(pb.GetCiferRequest(cifer_id="cif_aaaaaaaaaaaa"),
                                                                   timeout=10)
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED  # nobody lends it an identity


async def test_each_call_is_logged_as_rest_requests_are_and_never_with_its_credential(aiohttp_client, caplog):
    port = free_port()
    await aiohttp_client(create_app(SidecarSettings(keyservice_url=NOWHERE, grpc_port=port)))
    secret = "sk_test_" + "S" * 56
    caplog.set_level(logging.INFO, logger="cifer.grpc.access")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.primary_user_agent", "shop/1.0")]) as ch:
        stub = cifer_pb2_grpc.CiferServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as failed:  # the key service is unreachable: UNAVAILABLE
            await stub.GetCifer(pb.GetCiferRequest(cifer_id="cif_aaaaaaaaaaaa"),
                                metadata=(("authorization", f"Bearer {secret}"),), timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # no credential, none lent
            await stub.Encrypt(pb.EncryptRequest(cifer_id="cif_aaaaaaaaaaaa", plaintext=b"x"), timeout=30)
    assert (failed.value.code(), refused.value.code()) == (grpc.StatusCode.UNAVAILABLE,
                                                           grpc.StatusCode.UNAUTHENTICATED)
    lines = [r.getMessage() for r in caplog.records if r.name == "cifer.grpc.access"]
    assert len(lines) == 2, lines
    for line, (method, code) in zip(lines, [("GetCifer", "UNAVAILABLE"), ("Encrypt", "UNAUTHENTICATED")]):
        peer, rest = line.split(" ", 1)
        assert peer.startswith("ipv4:127.0.0.1:"), line
        assert rest.startswith(f'"{method}" {code} ') and '"shop/1.0' in rest, line
    assert not [r for r in caplog.records if secret in r.getMessage() or "S" * 20 in r.getMessage()]
