"""TLS between the sidecar and the key service, with real processes on loopback: the sidecar
verifies the key service against a CA bundle, refuses plain HTTP off loopback at start, refuses a
certificate its CA did not sign (503, nothing sent), and the key service takes a renewed
certificate under load without a failed request."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from certificates import TestCA, wait_until_healthy_over_tls, write_pair
from cifer.tls import client_context
from ports import free_port
from proxy.processes import ALL_SCOPES, Api, cifer_command, sidecar_process, stop

UNLIMITED = ("--rate-limit", "decrypt=1000000/60", "--rate-limit", "get=1000000/60", "--rate-limit",
             "encrypt=1000000/60")


class TlsKeyService:
    """`cifer keyservice serve` with --tls-cert-file and --tls-key-file from `directory`."""

    def __init__(self, data_dir: Path, tls_dir: Path, ca: TestCA) -> None:
        self.data_dir, self.tls_dir, self.ca = data_dir, tls_dir, ca
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca_file = ca.write_ca(tls_dir.parent / "ca.crt")
        write_pair(tls_dir, ca.issue())

    def command(self, *args: str) -> list[str]:
        return cifer_command("keyservice", "--data-dir", str(self.data_dir), *args)

    def api_key(self, owner: str) -> str:
        import json
        scope_args = [arg for scope in ALL_SCOPES for arg in ("--scope", scope)]
        made = subprocess.run(self.command("apikey", "create", "--owner", owner, *scope_args),
                              check=True, capture_output=True, text=True, timeout=60)
        return json.loads(made.stdout)["key"]

    @contextlib.contextmanager
    def running(self) -> Iterator[TlsKeyService]:
        subprocess.run(self.command("migrate"), check=True, capture_output=True, timeout=60)
        proc = subprocess.Popen(self.command("serve", "--port", str(self.port), "--tls-cert-file",
                                             str(self.tls_dir / "tls.crt"), "--tls-key-file",
                                             str(self.tls_dir / "tls.key"), *UNLIMITED),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_until_healthy_over_tls(self.url, proc, self.ca_file)
            yield self
        finally:
            stop(proc)


async def seal(api: Api, cifer_id: str, text: str) -> str:
    _, sealed = await api.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": text,
                                                            "encoding": "utf8"}, expect=200)
    return sealed["data"]["ciphertext"]


def plaintext(body: dict) -> str:
    return base64.b64decode(body["data"]["plaintext"]).decode()


async def peer_serial(port: int, context: ssl.SSLContext) -> int:
    """The serial of the certificate a new connection to `port` is shown."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def tls_key_service(tmp_path, ca) -> Iterator[TlsKeyService]:
    with TlsKeyService(tmp_path / "keyservice", tmp_path / "tls", ca).running() as service:
        yield service


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_sidecar_encrypts_and_decrypts_through_a_key_service_it_verifies(tls_key_service, http):
    key = tls_key_service.api_key("usr_alice")
    with sidecar_process(tls_key_service.url, "--keyservice-ca", str(tls_key_service.ca_file)) as url:
        alice = Api(http, url, key)
        cifer_id = await alice.new_cifer()
        ciphertext = await seal(alice, cifer_id, "over TLS")
        _, opened = await alice.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext}, expect=200)
    assert plaintext(opened) == "over TLS"


def test_the_ca_bundle_may_be_given_as_pem_text_in_the_environment(tls_key_service, tmp_path):
    async def check(url: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/v1/health") as resp:
                body = await resp.json()
        assert body["data"]["checks"]["keyservice"] == "ok", body

    pem = tls_key_service.ca_file.read_text()
    with sidecar_process(tls_key_service.url, env={"CIFER_KEYSERVICE_CA": pem}) as url:
        asyncio.run(check(url))


@pytest.mark.parametrize("url", ["http://10.0.0.1:8081", "http://cifer-keyservice.cifer.svc:8081"])
def test_plain_http_to_a_host_off_loopback_is_refused_at_start_in_one_line(url):
    done = subprocess.run(cifer_command("proxy", "--keyservice-url", url, "--port", str(free_port())),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("cifer proxy: --keyservice-url")
    assert "plain HTTP" in lines[0] and "--insecure-allow-plaintext-keyservice" in lines[0]


def test_plain_http_off_loopback_starts_only_with_the_loud_flag_and_a_warning():
    with sidecar_process("http://10.0.0.1:8081", "--insecure-allow-plaintext-keyservice") as url:
        assert url.startswith("http://127.0.0.1:")


class Relay:
    """A TCP relay that records every byte the client sends on to the server, and every byte back."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.sent, self.received = target_port, bytearray(), bytearray()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source, sink, record: bytearray) -> None:
            try:
                while data := await source.read(65536):
                    record += data
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, self.sent), pipe(up_reader, writer, self.received))

    async def close(self) -> None:
        self.server.close()


async def test_a_key_service_certificate_from_another_ca_is_refused_and_nothing_is_sent(tls_key_service, http,
                                                                                         tmp_path):
    key = tls_key_service.api_key("usr_alice")
    with sidecar_process(tls_key_service.url, "--keyservice-ca", str(tls_key_service.ca_file)) as good:
        alice = Api(http, good, key)
        cifer_id = await alice.new_cifer()
        ciphertext = await seal(alice, cifer_id, "secret")
    relay = Relay(tls_key_service.port)
    port = await relay.start()
    other_ca = TestCA("another CA").write_ca(tmp_path / "other-ca.crt")
    try:
        with sidecar_process(f"https://127.0.0.1:{port}", "--keyservice-ca", str(other_ca)) as wrong:
            resp, body = await Api(http, wrong, key).call("POST", "/v1/decrypt",
                                                         json={"ciphertext": ciphertext})
    finally:
        await relay.close()
    assert resp.status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE", body
    assert relay.sent, "the sidecar never tried the key service"
    header = base64.b64decode(ciphertext)[:64]
    for clear in (b"POST", b"/v1/", b"Authorization", key.encode(), header, base64.b64encode(header)[:40]):
        assert clear not in relay.sent


async def test_between_the_sidecar_and_the_key_service_no_credential_header_or_plaintext_is_in_clear(
        tls_key_service, http):
    """A recording relay between the two: a whole lifecycle and decrypt go through it, and the
    recorded bytes, both ways, hold none of the secrets the test knows."""
    key = tls_key_service.api_key("usr_alice")
    relay = Relay(tls_key_service.port)
    port = await relay.start()
    secret = "the plaintext nobody on the wire may read"
    try:
        with sidecar_process(f"https://localhost:{port}", "--keyservice-ca", str(tls_key_service.ca_file)) as url:
            alice = Api(http, url, key)
            cifer_id = await alice.new_cifer()
            ciphertext = await seal(alice, cifer_id, secret)
            _, opened = await alice.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext}, expect=200)
    finally:
        await relay.close()
    assert plaintext(opened) == secret
    assert len(relay.sent) > 1000 and len(relay.received) > 1000
    header = base64.b64decode(ciphertext)[:64]
    for clear in (b"Authorization", b"Bearer", key.encode(), key[8:40].encode(), secret.encode(), b"/v1/decapsulate",
                  cifer_id.encode(), header, base64.b64encode(header)[:40], b"data_key", b"sealed"):
        assert clear not in relay.sent and clear not in relay.received, clear


async def test_a_renewed_certificate_is_taken_under_load_without_a_failed_request(tls_key_service, http):
    """16 callers: 8 decrypting through the sidecar (each decrypt a key release over the sidecar's
    pooled connections to the key service),
    8 calling the key service directly on a new connection each time (a handshake each). The
    certificate files are replaced four times meanwhile; every request succeeds, and new
    connections are shown each new certificate."""
    key = tls_key_service.api_key("usr_alice")
    context = client_context(str(tls_key_service.ca_file))
    with sidecar_process(tls_key_service.url, "--keyservice-ca", str(tls_key_service.ca_file)) as url:
        alice = Api(http, url, key)
        cifer_id = await alice.new_cifer()
        ciphertext = await seal(alice, cifer_id, "renewed")
        done, failures, counts = asyncio.Event(), [], {"sidecar": 0, "direct": 0}

        async def through_sidecar() -> None:
            while not done.is_set():
                resp, body = await alice.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext})
                if resp.status != 200 or plaintext(body) != "renewed":
                    failures.append(("sidecar", resp.status, body))
                counts["sidecar"] += 1

        async def direct() -> None:
            connector = aiohttp.TCPConnector(ssl=context, force_close=True)  # a new handshake per request
            async with aiohttp.ClientSession(connector=connector) as session:
                while not done.is_set():
                    try:
                        async with session.get(f"{tls_key_service.url}/v1/keys/{cifer_id}") as resp:
                            await resp.read()
                            if resp.status != 200:
                                failures.append(("direct", resp.status))
                    except (aiohttp.ClientError, OSError) as exc:
                        failures.append(("direct", repr(exc)))
                    counts["direct"] += 1

        workers = [asyncio.create_task(through_sidecar()) for _ in range(8)]
        workers += [asyncio.create_task(direct()) for _ in range(8)]
        seen = []
        try:
            await asyncio.sleep(0.5)
            for _ in range(4):
                issued = tls_key_service.ca.issue()
                write_pair(tls_key_service.tls_dir, issued)
                deadline = time.monotonic() + 10
                while (serial := await peer_serial(tls_key_service.port, context)) != issued.serial:
                    assert time.monotonic() < deadline, "new connections never saw the renewed certificate"
                    await asyncio.sleep(0.05)
                seen.append(serial)
                await asyncio.sleep(0.4)
        finally:
            done.set()
            await asyncio.gather(*workers)
    assert failures == []
    assert len(set(seen)) == 4
    assert counts["sidecar"] > 40 and counts["direct"] > 40, counts
