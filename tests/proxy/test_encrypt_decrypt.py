"""Acceptance: the sidecar and the key service as two processes on loopback. Encrypt and
decrypt, JSON and binary; rotation; revocation within the public-key TTL; and what the key
service is sent to decrypt: the header, never payload bytes."""

from __future__ import annotations

import asyncio
import base64
import os

import aiohttp
import pytest
from aiohttp import web

from cifer.envelope.format import parse_header
from proxy.processes import Api, sidecar_process


async def test_json_round_trip_in_every_encoding_keeps_metadata(alice):
    cifer_id = await alice.new_cifer()
    for encoding, text in (("base64", "aGVsbG8="), ("hex", "68656c6c6f"), ("utf8", "hello")):
        _, sealed = await alice.call("POST", "/v1/encrypt", expect=200, json={
            "cifer_id": cifer_id, "plaintext": text, "encoding": encoding, "metadata": {"filename": "a.txt"}})
        data = sealed["data"]
        envelope = base64.b64decode(data["ciphertext"])
        assert data["ciphertext"].startswith("Q0lGUgABAA")  # the seed's prefix
        assert data["envelope_size"] == len(envelope) and data["encoding"] == "base64"
        assert data["algorithm"] == {"kem": "ML-KEM-768", "aead": "AES-256-GCM"}
        assert data["metadata"] == {"filename": "a.txt"}
        _, opened = await alice.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": data["ciphertext"]})
        assert base64.b64decode(opened["data"]["plaintext"]) == b"hello"
        assert opened["data"]["cifer_id"] == cifer_id and opened["data"]["key_version"] == 1
        assert opened["data"]["metadata"] == {"filename": "a.txt"}
    _, opened = await alice.call("POST", "/v1/decrypt", expect=200,
                                 json={"ciphertext": envelope.hex(), "encoding": "hex"})
    assert opened["data"]["plaintext"] == "68656c6c6f"


async def test_binary_round_trip_streams_and_carries_the_request_id(alice):
    cifer_id = await alice.new_cifer()
    payload = os.urandom(3 * 1024 * 1024 + 17)
    resp, envelope = await alice.call("POST", "/v1/encrypt", expect=200, data=payload, headers={
        "Content-Type": "application/octet-stream", "X-Cifer-Id": cifer_id,
        "X-Cifer-Metadata": '{"filename": "big.bin"}', "X-Request-ID": "trace-42"})
    assert resp.headers["X-Request-ID"] == "trace-42" and resp.headers["X-Cifer-Key-Version"] == "1"
    assert envelope.startswith(b"CIFR\x00\x01")
    resp, plaintext = await alice.call("POST", "/v1/decrypt", expect=200, data=envelope,
                                       headers={"Content-Type": "application/octet-stream"})
    assert plaintext == payload
    assert resp.headers["X-Cifer-Id"] == cifer_id and resp.headers["X-Cifer-Metadata"] == '{"filename":"big.bin"}'
    assert resp.headers["X-RateLimit-Limit"] and resp.headers["X-Request-ID"].startswith("req_")


async def test_a_chunk_that_fails_mid_stream_breaks_the_answer_instead_of_ending_it(alice):
    cifer_id = await alice.new_cifer()
    _, envelope = await alice.call("POST", "/v1/encrypt", expect=200, data=os.urandom(1024 * 1024), headers={
        "Content-Type": "application/octet-stream", "X-Cifer-Id": cifer_id})
    tampered = bytearray(envelope)
    tampered[-200_000] ^= 1  # a late chunk: earlier ones verify and are sent
    received = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with alice.http.post(alice.url + "/v1/decrypt", data=bytes(tampered), headers={
                **alice.auth, "Content-Type": "application/octet-stream"}) as resp:
            assert resp.status == 200
            async for piece in resp.content.iter_chunked(65536):
                received += piece
    assert 0 < len(received) < 1024 * 1024


async def test_rotation_new_envelopes_use_the_new_version_and_old_ones_still_open(alice):
    cifer_id = await alice.new_cifer()
    _, old = await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "b2xk"})
    _, rotated = await alice.call("POST", f"/v1/cifers/{cifer_id}/rotate", expect=200, json={})
    _, new = await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "bmV3"})
    assert new["data"]["key_version"] == 2  # passed through this sidecar: its cache dropped the key at once
    for sealed, plaintext in ((old, "b2xk"), (new, "bmV3")):
        _, opened = await alice.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": sealed["data"]["ciphertext"]})
        assert opened["data"]["plaintext"] == plaintext


async def test_a_rotation_elsewhere_reaches_this_sidecar_within_the_ttl(alice, key_service):
    cifer_id = await alice.new_cifer()
    await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "eA=="})
    direct = Api(alice.http, key_service.url, alice.auth["Authorization"].removeprefix("Bearer "))
    await direct.call("POST", f"/v1/cifers/{cifer_id}/rotate", expect=200, json={})
    await asyncio.sleep(1.2)  # the sidecar runs with --public-key-ttl 1
    _, sealed = await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "eA=="})
    assert sealed["data"]["key_version"] == 2


async def test_a_revocation_elsewhere_stops_encryption_within_the_ttl(alice, key_service):
    cifer_id = await alice.new_cifer()
    _, sealed = await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "eA=="})
    direct = Api(alice.http, key_service.url, alice.auth["Authorization"].removeprefix("Bearer "))
    await direct.call("DELETE", f"/v1/cifers/{cifer_id}", expect=200, headers={"X-Confirm-Revocation": "true"})
    await asyncio.sleep(1.2)
    resp, body = await alice.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": "eA=="})
    assert resp.status == 410 and body["error"]["code"] == "CIFER_REVOKED"
    resp, body = await alice.call("POST", "/v1/decrypt", json={"ciphertext": sealed["data"]["ciphertext"]})
    assert resp.status == 410 and body["error"]["code"] == "CIFER_REVOKED"


async def test_the_key_service_is_sent_the_header_and_no_payload_byte(key_service, http, aiohttp_server):
    """A recording relay between sidecar and key service: real HTTP on both sides."""
    seen: list[tuple[str, bytes]] = []

    async def relay(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.path, body))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with http.request(request.method, key_service.url + request.path_qs, headers=headers, data=body) as resp:
            return web.Response(status=resp.status, body=await resp.read(), headers={
                k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "retry-after")
                or k.lower().startswith("x-ratelimit")})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", relay)
    server = await aiohttp_server(app)
    with sidecar_process(str(server.make_url(""))) as url:
        api = Api(http, url, key_service.api_key("usr_alice"))
        cifer_id = await api.new_cifer()
        payload = os.urandom(512 * 1024)
        _, envelope = await api.call("POST", "/v1/encrypt", expect=200, data=payload, headers={
            "Content-Type": "application/octet-stream", "X-Cifer-Id": cifer_id})
        seen.clear()
        _, plaintext = await api.call("POST", "/v1/decrypt", expect=200, data=envelope,
                                      headers={"Content-Type": "application/octet-stream"})
    assert plaintext == payload
    (path, body), = [(p, b) for p, b in seen if p == "/v1/decapsulate"]
    header_length = parse_header(envelope)[1]
    assert len(body) < 2 * header_length  # the header, base64 in JSON; the envelope is 512 KiB
    sealed_payload = envelope[header_length:]
    for start in range(0, len(sealed_payload) - 16, 4096):  # no 16-byte piece of the sealed payload
        assert sealed_payload[start:start + 16] not in body and base64.b64encode(sealed_payload[start:start + 15]) not in body


async def test_with_the_key_service_down_cached_keys_still_encrypt_and_decrypt_is_503(alice, key_service):
    cifer_id = await alice.new_cifer()
    await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "eA=="})
    key_service.stop()
    _, sealed = await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "eA=="})
    resp, body = await alice.call("POST", "/v1/decrypt", json={"ciphertext": sealed["data"]["ciphertext"]})
    assert resp.status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    resp, body = await alice.call("GET", "/v1/health")
    assert resp.status == 503 and body["error"]["details"]["checks"] == {"keyservice": "failing"}
