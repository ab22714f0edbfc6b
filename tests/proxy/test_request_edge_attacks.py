"""The request edge of every server, attacked from outside as issue 15 writes it: raw sockets
against a real key service, a real sidecar lending its pod's API key, and a real inference service.

- CSRF and DNS rebinding: a web page cannot make the sidecar create, rotate or decrypt with the
  identity it lends (415 for a non-JSON body, identity lent only to a loopback Host, a foreign
  Origin refused).
- A credential with bytes outside visible ASCII is a 401, never a 500, and never cut short.
- An over-long header line is the server's JSON error, echoing none of it, and a token up to
  MAX_TOKEN_CHARS arrives.
- A body announced larger than the server reads is a 413 at once, the connection closed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from inference.processes import NO_LIMITS, inference_process
from ports import free_port
from rawhttp import exchange, request_head

from cifer.api.credentials import MAX_TOKEN_CHARS
from proxy.processes import KeyServiceProcess, _wait_listening, cifer_command, stop

ATTACKER = "attacker.example"
ALLOWED_ORIGIN = "https://app.example"
SECRET = "s3cr3t-Marker"  # in an over-long header; must appear in no answer and no log
# Quotas have their own tests; here they would only turn answers into 429s.
GENEROUS_LIMITS = tuple(arg for category in ("create", "encrypt", "decrypt", "get", "rotate")
                        for arg in ("--rate-limit", f"{category}=1000000/60"))


class Sidecar:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log

    async def send(self, method: str, path: str, *, host: str | None = None, headers=(), body: bytes = b""):
        sized = [*headers, ("Content-Length", str(len(body)))] if body else list(headers)
        head = request_head(method, path, f"127.0.0.1:{self.port}" if host is None else host,
                            [*sized, ("Connection", "close")])
        return await exchange(self.port, head, body)

    def logged(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A key service, and a sidecar in front of it lending the pod's API key (CIFER_API_KEY), as
    `cifer proxy` runs in a pod; its stderr in a file."""
    root = tmp_path_factory.mktemp("edge")
    service = KeyServiceProcess(root / "keyservice", (), serve_args=GENEROUS_LIMITS)
    subprocess.run(service.command("migrate"), check=True, capture_output=True, timeout=60)
    service.start()
    pod_key = service.api_key("usr_pod")
    port = free_port()
    log = (root / "sidecar.log").open("w")
    environment = {k: v for k, v in os.environ.items() if k != "CIFER_API_KEY"} | {"CIFER_API_KEY": pod_key}
    proc = subprocess.Popen(cifer_command("proxy", "--keyservice-url", service.url, "--port", str(port),
                                          "--grpc-port", "0", "--allow-origin", ALLOWED_ORIGIN),
                            stdout=subprocess.DEVNULL, stderr=log, env=environment)
    try:
        _wait_listening(f"http://127.0.0.1:{port}", proc)
        yield service, pod_key, Sidecar(port, root / "sidecar.log")
    finally:
        stop(proc)
        log.close()
        service.stop()


JSON = (("Content-Type", "application/json"),)


async def _new_cifer(sidecar: Sidecar) -> str:
    answer = await sidecar.send("POST", "/v1/cifers", headers=JSON, body=b'{"name": "edge"}')
    assert answer.status == 201, answer.body
    return answer.json()["data"]["cifer_id"]


async def _envelope(sidecar: Sidecar, cifer_id: str) -> bytes:
    body = json.dumps({"cifer_id": cifer_id, "plaintext": "c2VjcmV0"}).encode()
    answer = await sidecar.send("POST", "/v1/encrypt", headers=JSON, body=body)
    assert answer.status == 200, answer.body
    return json.dumps({"ciphertext": answer.json()["data"]["ciphertext"]}).encode()


async def _versions_and_count(service: KeyServiceProcess, pod_key: str) -> dict[str, int]:
    port = int(service.url.rsplit(":", 1)[1])
    answer = await exchange(port, request_head("GET", "/v1/cifers?limit=100", f"127.0.0.1:{port}",
                                               [("Authorization", f"Bearer {pod_key}"), ("Connection", "close")]))
    assert answer.status == 200, answer.body
    return {c["cifer_id"]: c["key_version"] for c in answer.json()["data"]["cifers"]}


# --- 2. CSRF and DNS rebinding --------------------------------------------------------------


async def test_a_web_page_cannot_create_rotate_or_decrypt_with_the_lent_identity(servers):
    """The issue's attack: no Authorization, Host and Origin of the attacker's rebound name, and
    a `text/plain` body (a simple request, sent cross-site without a preflight)."""
    service, pod_key, sidecar = servers
    cifer_id = await _new_cifer(sidecar)
    envelope = await _envelope(sidecar, cifer_id)
    before = await _versions_and_count(service, pod_key)
    page = f"{ATTACKER}:{sidecar.port}"
    attack = (("Origin", f"http://{page}"), ("Content-Type", "text/plain"))
    for path, body in (("/v1/cifers", b'{"name": "evil"}'), (f"/v1/cifers/{cifer_id}/rotate", b"{}"),
                       ("/v1/decrypt", envelope)):
        answer = await sidecar.send("POST", path, host=page, headers=attack, body=body)
        assert answer.status in (401, 403, 415), (path, answer.status, answer.body)
        assert b"secret" not in answer.body and b"c2VjcmV0" not in answer.body
    assert await _versions_and_count(service, pod_key) == before  # nothing created, nothing rotated


@pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded",
                                        "multipart/form-data; boundary=x", None])
async def test_a_body_that_is_not_json_is_a_415_even_from_loopback(servers, media_type):
    service, pod_key, sidecar = servers
    cifer_id = await _new_cifer(sidecar)
    envelope = await _envelope(sidecar, cifer_id)
    before = await _versions_and_count(service, pod_key)
    typed = (("Content-Type", media_type),) if media_type else ()
    for path, body in (("/v1/cifers", b'{"name": "plain"}'), (f"/v1/cifers/{cifer_id}/rotate", b"{}"),
                       ("/v1/decrypt", envelope), ("/v1/infer", b'{"model_id": "m", "features": [1]}')):
        answer = await sidecar.send("POST", path, host=f"localhost:{sidecar.port}", headers=typed, body=body)
        assert answer.status == 415, (path, media_type, answer.body)
        assert answer.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert await _versions_and_count(service, pod_key) == before


async def test_binary_is_taken_where_binary_is_served_and_nowhere_else(servers):
    _, _, sidecar = servers
    cifer_id = await _new_cifer(sidecar)
    binary = (("Content-Type", "application/octet-stream"), ("X-Cifer-Id", cifer_id))
    sealed = await sidecar.send("POST", "/v1/encrypt", headers=binary, body=b"bytes")
    assert sealed.status == 200 and sealed.body.startswith(b"CIFR")
    refused = await sidecar.send("POST", "/v1/cifers", headers=binary, body=b'{"name": "x"}')
    assert refused.status == 415


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST", "127.0.0.2"])
async def test_identity_is_lent_to_a_loopback_host(servers, host):
    _, _, sidecar = servers
    answer = await sidecar.send("POST", "/v1/cifers", host=f"{host}:{sidecar.port}", headers=JSON,
                                body=b'{"name": "lent"}')
    assert answer.status == 201, answer.body


@pytest.mark.parametrize("host", [ATTACKER, "localhost.attacker.example", "127.0.0.1.nip.io", "user@localhost",
                                  "10.0.0.7", ""])
async def test_identity_is_not_lent_to_any_other_host(servers, host):
    _, _, sidecar = servers
    cifer_id = await _new_cifer(sidecar)
    envelope = await _envelope(sidecar, cifer_id)
    named = f"{host}:{sidecar.port}" if host else ""
    for path, body in (("/v1/cifers", b'{"name": "rebound"}'), ("/v1/decrypt", envelope),
                       ("/v1/encrypt", json.dumps({"cifer_id": cifer_id, "plaintext": "eA=="}).encode())):
        answer = await sidecar.send("POST", path, host=named, headers=JSON, body=body)
        assert answer.status == 401, (host, path, answer.body)


async def test_a_callers_own_credential_works_whatever_the_host(servers):
    service, _, sidecar = servers
    own = service.api_key("usr_app")
    answer = await sidecar.send("POST", "/v1/cifers", host=f"{ATTACKER}:{sidecar.port}",
                                headers=(*JSON, ("Authorization", f"Bearer {own}")), body=b'{"name": "own"}')
    assert answer.status == 201, answer.body


@pytest.mark.parametrize("origin", [f"http://{ATTACKER}", "null", "http://localhost:8080", ALLOWED_ORIGIN + "/"])
async def test_a_request_from_a_web_page_is_refused_unless_its_origin_is_allowed(servers, origin):
    _, _, sidecar = servers
    cifer_id = await _new_cifer(sidecar)
    for method, path in (("POST", "/v1/cifers"), ("GET", "/v1/cifers"), ("POST", f"/v1/cifers/{cifer_id}/rotate")):
        answer = await sidecar.send(method, path, host=f"localhost:{sidecar.port}", headers=(
            *JSON, ("Origin", origin)), body=b'{"name": "o"}' if method == "POST" else b"")
        assert answer.status == 403, (origin, path, answer.body)
        assert answer.json()["error"]["details"] == {"field": "Origin"}
    allowed = await sidecar.send("POST", "/v1/cifers", host=f"localhost:{sidecar.port}",
                                 headers=(*JSON, ("Origin", ALLOWED_ORIGIN)), body=b'{"name": "o"}')
    assert allowed.status == 201, allowed.body


# --- 3. a credential outside visible ASCII ------------------------------------------------------


async def test_a_non_ascii_authorization_is_a_401_everywhere_and_no_traceback(servers):
    service, pod_key, sidecar = servers
    cifer_id = await _new_cifer(sidecar)
    binary = (("Content-Type", "application/octet-stream"), ("X-Cifer-Id", cifer_id))
    calls = [("POST", "/v1/encrypt", JSON, json.dumps({"cifer_id": cifer_id, "plaintext": "eA=="}).encode()),
             ("POST", "/v1/encrypt", binary, b"x"), ("POST", "/v1/infer", JSON,
                                                        b'{"model_id": "m", "features": [1.0]}'),
             ("POST", "/v1/decrypt", JSON, b'{"ciphertext": "Q0lGUg=="}'), ("GET", "/v1/cifers", (), b"")]
    for credential in (b"Bearer \xff", b"Bearer \xc3\x28", b"Bearer " + pod_key.encode() + b"\xff",
                       b"Bearer " + pod_key.encode() + b"\xe2\x82", "Bearer ключ".encode()):
        for method, path, headers, body in calls:
            answer = await sidecar.send(method, path, headers=(*headers, ("Authorization", credential)), body=body)
            assert answer.status == 401, (credential, path, answer.status, answer.body)
            assert answer.json()["error"]["code"] == "UNAUTHORIZED"
    port = int(service.url.rsplit(":", 1)[1])
    direct = await exchange(port, request_head("GET", "/v1/cifers", f"127.0.0.1:{port}", [
        ("Authorization", b"Bearer " + pod_key.encode() + b"\xff"), ("Connection", "close")]))
    assert direct.status == 401
    assert "Traceback" not in sidecar.logged()


# --- 4. over-long header lines, and tokens up to MAX_TOKEN_CHARS ------------------------------


def _overlong() -> tuple[str, str]:
    return ("Authorization", f"Bearer {SECRET}" + "A" * (MAX_TOKEN_CHARS + 4096))


async def _expect_json_400_without_echo(port: int, path: str) -> dict:
    answer = await exchange(port, request_head("GET", path, f"127.0.0.1:{port}", [_overlong()]))
    assert answer.status == 400, answer.body[:200]
    assert answer.headers["content-type"].startswith("application/json")
    assert SECRET.encode() not in answer.body and b"AAAA" not in answer.body
    assert answer.closed
    return answer.json()


async def test_an_overlong_header_gets_the_seeds_json_error_echoing_nothing(servers):
    service, _, sidecar = servers
    for port in (sidecar.port, int(service.url.rsplit(":", 1)[1])):
        body = await _expect_json_400_without_echo(port, "/v1/cifers")
        assert body["success"] is False and body["error"]["code"] == "INVALID_REQUEST"
        assert body["meta"]["request_id"].startswith("req_")
    assert SECRET not in sidecar.logged() and "Traceback" not in sidecar.logged()


@pytest.mark.parametrize("chars", [8 * 1024 + 1, 12 * 1024, MAX_TOKEN_CHARS])
async def test_a_token_up_to_the_token_limit_arrives_and_is_judged(servers, chars):
    service, _, sidecar = servers
    token = "eyJ" + "x" * (chars - 3)
    for port in (sidecar.port, int(service.url.rsplit(":", 1)[1])):
        answer = await exchange(port, request_head("GET", "/v1/cifers", f"127.0.0.1:{port}", [
            ("Authorization", f"Bearer {token}"), ("Connection", "close")]))
        assert answer.status == 401, (port, answer.status, answer.body[:200])  # read, and refused as a credential
        assert answer.json()["error"]["code"] == "UNAUTHORIZED"


# --- 5. a body announced too large ------------------------------------------------------------


async def _announce(port: int, method: str, path: str, media_type: str = "application/json"):
    head = request_head(method, path, f"127.0.0.1:{port}", [("Content-Type", media_type),
                                                            ("Content-Length", str(10**12))])
    return await exchange(port, head, b"{", timeout_s=3)  # one byte of the terabyte, then nothing


async def test_a_body_announced_too_large_is_a_413_at_once_and_the_connection_closed(servers):
    service, _, sidecar = servers
    keyservice_port = int(service.url.rsplit(":", 1)[1])
    for port, method, path in ((sidecar.port, "POST", "/v1/encrypt"), (sidecar.port, "POST", "/v1/decrypt"),
                               (sidecar.port, "POST", "/v1/infer"), (sidecar.port, "POST", "/v1/cifers"),
                               (sidecar.port, "PATCH", "/v1/cifers/cif_" + "A" * 24),
                               (keyservice_port, "POST", "/v1/cifers"), (keyservice_port, "POST", "/v1/decapsulate"),
                               (keyservice_port, "POST", "/v1/webhooks")):
        for media_type in ("application/json", "application/octet-stream"):  # binary streams only where served
            if (path, media_type) in (("/v1/encrypt", "application/octet-stream"),
                                      ("/v1/decrypt", "application/octet-stream")):
                continue  # test_a_binary_body_streams_past_the_json_limit
            answer = await _announce(port, method, path, media_type)
            assert answer.status == 413, (port, path, media_type, answer.status, answer.body)
            assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
            assert answer.headers.get("connection", "").lower() == "close" and answer.closed, (port, path)


# --- the inference service: the same edge ------------------------------------------------------


@pytest.fixture(scope="module")
def inference(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("inference")
    with inference_process(log_dir, *NO_LIMITS) as url:
        yield int(url.rsplit(":", 1)[1]), log_dir


async def test_the_inference_service_answers_an_overlong_header_in_its_json_echoing_nothing(inference):
    port, log_dir = inference
    body = await _expect_json_400_without_echo(port, "/v1/models")
    assert set(body) == {"detail"}
    logged = "".join(p.read_text(errors="replace") for p in log_dir.iterdir())
    assert SECRET not in logged and "Traceback" not in logged


async def test_the_inference_service_refuses_an_announced_overflow_at_once(inference):
    port, _ = inference
    for path in ("/v1/infer", "/v1/keys/register"):
        answer = await _announce(port, "POST", path)
        assert answer.status == 413 and answer.closed, (path, answer.body)
        assert set(answer.json()) == {"detail"}


async def test_a_binary_body_streams_past_the_json_limit(servers):
    """Only bodies read whole are bounded: 9 MiB of binary, above the 8 MiB JSON limit, is sealed."""
    _, _, sidecar = servers
    cifer_id = await _new_cifer(sidecar)
    answer = await sidecar.send("POST", "/v1/encrypt", headers=(("Content-Type", "application/octet-stream"),
                                                               ("X-Cifer-Id", cifer_id)), body=bytes(9 << 20))
    assert answer.status == 200 and len(answer.body) > 9 << 20
