"""Choosing the KEK: explicit, and the PIN never from argv."""

from __future__ import annotations

import pytest

from cifer.exceptions import KeystoreUnavailable
from cifer.keystore.config import FileKekSettings, Pkcs11KekSettings, open_kek
from cifer.keystore.file_kek import FileKek


def test_file_settings_open_a_file_kek(tmp_path):
    kek = open_kek(FileKekSettings(tmp_path / "kek.key"), create=True)
    assert isinstance(kek, FileKek)
    assert kek.unwrap(kek.wrap(bytes(32))) == bytes(32)


def test_pkcs11_settings_without_a_pin_are_unavailable(monkeypatch):
    monkeypatch.delenv("CIFER_PKCS11_PIN", raising=False)
    with pytest.raises(KeystoreUnavailable, match="no PKCS#11 PIN"):
        Pkcs11KekSettings("/usr/lib/softhsm/libsofthsm2.so", "t").pin()


def test_the_pin_file_wins_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFER_PKCS11_PIN", "from-env")
    pin_file = tmp_path / "pin"
    pin_file.write_text("from-file\n")
    assert Pkcs11KekSettings("lib", "t", pin_file=pin_file).pin() == "from-file"


def test_an_unreadable_pin_file_is_unavailable(tmp_path):
    with pytest.raises(KeystoreUnavailable, match="PIN file"):
        Pkcs11KekSettings("lib", "t", pin_file=tmp_path / "missing").pin()


def test_an_unreachable_hsm_is_unavailable_and_makes_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFER_PKCS11_PIN", "1234")
    with pytest.raises(KeystoreUnavailable, match="library not found"):
        open_kek(Pkcs11KekSettings(str(tmp_path / "no-such-module.so"), "t"), create=True)
    assert list(tmp_path.iterdir()) == []
