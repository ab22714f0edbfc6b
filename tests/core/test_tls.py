"""cifer.tls: the plain-HTTP rule, client contexts from a CA bundle, a server certificate that
is reloaded when its files change (and not while they are half replaced), and the clients that
take a CA bundle: the SDK (the operator's and the CLI's client)."""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest
from aiohttp import web
from cryptography import x509

from certificates import TestCA, write_pair
from cifer.tls import ServerCertificate, TlsError, client_context, is_loopback, require_tls


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST."])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "0.0.0.0", "cifer-keyservice.cifer.svc", "localhost.example", "", None])
def test_hosts_off_loopback(host):
    assert not is_loopback(host)


def _require(url: str, allow: bool = False) -> None:
    require_tls(url, what="--keyservice-url", allow_plaintext=allow, allow_flag="--insecure-allow-plaintext-keyservice")


@pytest.mark.parametrize("url", ["https://10.0.0.1:8081", "https://ks.cifer.svc:8081", "http://127.0.0.1:8081",
                                 "http://localhost:8081", "http://[::1]:8081"])
def test_https_anywhere_and_http_on_loopback_are_allowed(url):
    _require(url)


def test_plain_http_off_loopback_is_refused_in_one_line_naming_the_flag():
    with pytest.raises(TlsError) as refused:
        _require("http://user:secret@10.0.0.1:8081")
    message = str(refused.value)
    assert "\n" not in message and "secret" not in message
    assert message.startswith("--keyservice-url http://10.0.0.1:8081 is plain HTTP")
    assert "--insecure-allow-plaintext-keyservice" in message


def test_the_loud_flag_allows_plain_http_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="cifer.tls"):
        _require("http://10.0.0.1:8081", allow=True)
    assert "in clear" in caplog.text and "--insecure-allow-plaintext-keyservice" in caplog.text


@pytest.mark.parametrize("url", ["ftp://10.0.0.1/", "10.0.0.1:8081", "https://"])
def test_what_is_not_an_http_url_is_refused(url):
    with pytest.raises(TlsError):
        _require(url)


def test_a_missing_ca_bundle_is_named_and_bad_pem_is_not_echoed(tmp_path):
    with pytest.raises(TlsError, match="the CA bundle .*missing.pem cannot be used"):
        client_context(str(tmp_path / "missing.pem"))
    with pytest.raises(TlsError) as refused:
        client_context("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert "not base64" not in str(refused.value)


def test_client_contexts_verify_and_speak_tls_1_2_or_later():
    context = client_context(TestCA().pem.decode())
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"success": True, "data": {}})


async def _serve(certificate: ServerCertificate) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/v1/health", _health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certificate.context).start()
    return runner, runner.addresses[0][1]


async def _serial(port: int, context: ssl.SSLContext) -> int:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return x509.load_der_x509_certificate(der).serial_number


async def test_new_handshakes_get_a_replaced_certificate_and_a_half_replaced_pair_is_not_taken(tmp_path):
    ca = TestCA()
    first, second, third = ca.issue(), ca.issue(), ca.issue()
    certificate = ServerCertificate(*write_pair(tmp_path, first))
    assert certificate.context.minimum_version >= ssl.TLSVersion.TLSv1_2
    runner, port = await _serve(certificate)
    context = client_context(ca.pem.decode())
    try:
        assert await _serial(port, context) == first.serial
        write_pair(tmp_path, second)
        assert await _serial(port, context) == second.serial
        (tmp_path / "tls.crt").write_bytes(third.cert_pem)  # its key not yet written: they do not load together
        assert await _serial(port, context) == second.serial
        (tmp_path / "tls.key").write_bytes(third.key_pem)
        assert await _serial(port, context) == third.serial
        assert certificate.reloads == 2
    finally:
        await runner.cleanup()


def test_a_certificate_that_cannot_be_loaded_stops_the_server_in_one_line(tmp_path):
    (tmp_path / "tls.crt").write_text("no certificate")
    (tmp_path / "tls.key").write_text("no key")
    with pytest.raises(TlsError, match="cannot be used"):
        ServerCertificate(tmp_path / "tls.crt", tmp_path / "tls.key")


async def test_the_sdk_verifies_an_https_server_against_its_ca_file(tmp_path, monkeypatch):
    from cifer.sdk import AsyncCiferClient
    from cifer.sdk.errors import CiferConnectionError

    ca = TestCA()
    runner, port = await _serve(ServerCertificate(*write_pair(tmp_path, ca.issue())))
    url = f"https://127.0.0.1:{port}"
    try:
        async with AsyncCiferClient(base_url=url, ca_file=str(ca.write_ca(tmp_path / "ca.crt")),
                                    max_retries=0) as client:
            assert await client._transport.call("GET", "/v1/health") == {}
        monkeypatch.setenv("CIFER_CA_FILE", str(TestCA().write_ca(tmp_path / "other.crt")))
        async with AsyncCiferClient(base_url=url, max_retries=0) as client:
            with pytest.raises(CiferConnectionError, match="certificate"):
                await client._transport.call("GET", "/v1/health")
    finally:
        await runner.cleanup()

