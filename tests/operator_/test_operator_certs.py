"""The operator's own webhook certificate, when none is given: made with `cryptography` (kopf's
generator needs oscrypto, which fails with this OpenSSL), for the names the API server calls."""

from __future__ import annotations

import ipaddress
import ssl

from cryptography import x509

from cifer_operator.main import with_certificate
from cifer_operator.settings import WebhookServerSettings


def test_a_missing_certificate_is_made_for_the_webhook_host_with_a_private_key_only_we_read(tmp_path):
    config = with_certificate(WebhookServerSettings(addr="0.0.0.0", host="cifer-operator.cifer.svc"), tmp_path)
    cert = x509.load_pem_x509_certificate(config.certfile.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["cifer-operator.cifer.svc"]  # not the wildcard address
    assert config.cafile == config.certfile and config.pkeyfile.stat().st_mode & 0o077 == 0
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(config.certfile, config.pkeyfile)


def test_a_loopback_address_is_a_name_of_the_certificate_and_a_given_certificate_is_kept(tmp_path):
    made = with_certificate(WebhookServerSettings(addr="127.0.0.1"), tmp_path / "made")
    cert = x509.load_pem_x509_certificate(made.certfile.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert with_certificate(made, tmp_path / "unused") is made and not (tmp_path / "unused").exists()
