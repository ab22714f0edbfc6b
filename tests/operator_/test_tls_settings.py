"""The operator's side of TLS to the key service: plain HTTP off loopback refused at start, its
CA bundle used by its own client and handed to injected sidecars as PEM in their environment."""

from __future__ import annotations

import pytest

from certificates import TestCA
from cifer.cli import build_parser
from cifer.settings.sidecar import SidecarSettings
from cifer.tls import TlsError
from cifer_operator.cli import settings_from
from cifer_operator.injection import BY_POD, Refusal, patch

API_KEY = "sk_test_" + "a" * 56


def settings(*argv: str):
    return settings_from(build_parser("operator").parse_args(["operator", *argv]))


@pytest.fixture(autouse=True)
def identity(monkeypatch):
    monkeypatch.setenv("CIFER_API_KEY", API_KEY)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)


def test_plain_http_to_a_key_service_off_loopback_stops_the_operator():
    with pytest.raises(TlsError, match=r"^--keyservice-url http://10\.0\.0\.1:8081 is plain HTTP.*"
                                       r"--insecure-allow-plaintext-keyservice"):
        settings("--keyservice-url", "http://10.0.0.1:8081", "--standalone")


def test_the_loud_flag_reaches_the_sidecars_the_injector_makes():
    made = settings("--keyservice-url", "http://10.0.0.1:8081", "--insecure-allow-plaintext-keyservice",
                    "--standalone", "--inject-port", "9444", "--proxy-image", "cifer:test")
    assert made.injector.insecure_allow_plaintext_keyservice


def test_an_unreadable_ca_bundle_stops_the_operator(tmp_path):
    with pytest.raises(TlsError, match="cannot be used"):
        settings("--keyservice-url", "https://ks:8081", "--keyservice-ca", str(tmp_path / "missing.crt"))


async def test_the_injected_sidecar_gets_the_operators_ca_as_pem_in_its_environment(tmp_path):
    ca_file = TestCA().write_ca(tmp_path / "ca.crt")
    made = settings("--keyservice-url", "https://ks.cifer.svc:8081", "--keyservice-ca", str(ca_file),
                    "--standalone", "--inject-port", "9444", "--proxy-image", "cifer:test")
    assert made.keyservice_ca == str(ca_file) and made.injector.keyservice_ca == str(ca_file)
    ops = await patch({"metadata": {"annotations": {"cifer.io/inject": "true"}}, "spec": {"containers": [
        {"name": "app", "image": "shop"}]}}, "shop", BY_POD, made.injector, None)
    (sidecar,) = [op["value"] for op in ops if op["path"] == "/spec/containers/0"]  # classic: first
    env = {var["name"]: var["value"] for var in sidecar["env"]}
    assert env["CIFER_KEYSERVICE_URL"] == "https://ks.cifer.svc:8081"
    assert env["CIFER_KEYSERVICE_CA"] == ca_file.read_text()
    assert not any("BEGIN" in arg for arg in sidecar["args"])
    assert "--insecure-allow-plaintext-keyservice" not in sidecar["args"]
    # what the sidecar reads back from that environment
    assert SidecarSettings(keyservice_url=env["CIFER_KEYSERVICE_URL"], keyservice_ca=env["CIFER_KEYSERVICE_CA"])


async def test_a_ca_bundle_gone_at_injection_refuses_the_pod(tmp_path):
    ca_file = TestCA().write_ca(tmp_path / "ca.crt")
    made = settings("--keyservice-url", "https://ks.cifer.svc:8081", "--keyservice-ca", str(ca_file),
                    "--standalone", "--inject-port", "9444", "--proxy-image", "cifer:test")
    ca_file.unlink()
    with pytest.raises(Refusal, match="cannot read the CA bundle"):
        await patch({"metadata": {"annotations": {"cifer.io/inject": "true"}}, "spec": {"containers": [
            {"name": "app", "image": "shop"}]}}, "shop", BY_POD, made.injector, None)
