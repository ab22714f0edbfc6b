"""`encapsulation_key` is the standard SubjectPublicKeyInfo DER of each suite's public key."""

from __future__ import annotations

import pytest
from asn1crypto import core  # an independent DER parser (python-pkcs11 depends on it)

from cifer.crypto.suites import ML_KEM_768, ML_KEM_1024, X_WING, kem_suites
from cifer.exceptions import InvalidKey

SUITES = list(kem_suites())  # key pairs are per KEM; the payload AEAD plays no part
OIDS = {ML_KEM_768: "2.16.840.1.101.3.4.4.2", ML_KEM_1024: "2.16.840.1.101.3.4.4.3", X_WING: "1.3.6.1.4.1.62253.25722"}


class _Algorithm(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _Spki(core.Sequence):
    _fields = [("algorithm", _Algorithm), ("public_key", core.BitString)]


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_der_names_the_suites_oid_and_holds_the_raw_key(suite):
    public_key = suite.public_key(suite.generate_seed())
    der = suite.public_key_der(public_key)
    parsed = _Spki.load(der, strict=True)
    assert parsed["algorithm"]["algorithm"].dotted == OIDS[suite]
    assert parsed["algorithm"]["parameters"].native is None
    assert parsed["public_key"].contents == b"\x00" + public_key  # no unused bits, then the key
    assert suite.public_key_from_der(der) == public_key


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_another_suites_der_is_refused(suite):
    for other in SUITES:
        if other is not suite:
            with pytest.raises(InvalidKey):
                suite.public_key_from_der(other.public_key_der(other.public_key(other.generate_seed())))


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_garbage_der_is_refused(suite):
    for garbage in (b"", b"\x30\x00", b"\x00" * 40):
        with pytest.raises(InvalidKey):
            suite.public_key_from_der(garbage)


@pytest.mark.parametrize("suite", [ML_KEM_768, ML_KEM_1024], ids=lambda s: s.name)  # cryptography knows no X-Wing
def test_the_der_is_what_cryptography_writes_and_reads(suite):
    from cryptography.hazmat.primitives import serialization

    public_key = suite.public_key(suite.generate_seed())
    der = suite.public_key_der(public_key)
    loaded = serialization.load_der_public_key(der)
    assert loaded.public_bytes_raw() == public_key
    assert loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == der
