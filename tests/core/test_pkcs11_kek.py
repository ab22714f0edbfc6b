"""Pkcs11Kek against a real SoftHSM2 token: the KEK stays on the token, blobs are RFC 5649,
and an HSM problem is never reported as a bad blob, nor the other way round."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from cryptography.hazmat.primitives.keywrap import (
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)
from pkcs11 import Attribute, KeyType, Mechanism
from pkcs11 import exceptions as p11

from cifer.exceptions import InvalidWrappedKey, KeystoreUnavailable
from cifer.keystore.kek import Kek
from cifer.keystore.pkcs11_kek import Pkcs11Kek

if TYPE_CHECKING:
    from softhsm import SoftHsm  # tests/softhsm.py, for annotations only

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_64 = bytes(range(64))
SEED_32 = bytes(range(100, 132))


@contextmanager
def logged_in_session(softhsm: SoftHsm) -> Iterator[pkcs11.Session]:
    """A session of the test's own; no Pkcs11Kek may be open meanwhile (one login per process)."""
    token = pkcs11.lib(softhsm.library_path).get_token(token_label=softhsm.token_label)
    session = token.open(user_pin=softhsm.pin, rw=True)
    try:
        yield session
    finally:
        session.close()


def open_kek(softhsm: SoftHsm, key_label: str, *, create: bool = True, **kwargs: bool) -> Pkcs11Kek:
    return Pkcs11Kek.open(
        softhsm.library_path, softhsm.token_label, softhsm.pin, key_label, create=create, **kwargs
    )


@pytest.fixture(scope="module")
def generated_kek_label(softhsm: SoftHsm) -> str:
    """A KEK made by the product's own create path."""
    open_kek(softhsm, "generated-kek", create=True).close()
    return "generated-kek"


@pytest.fixture(scope="module")
def extractable_kek(softhsm: SoftHsm) -> tuple[str, bytes]:
    """A test-only token key whose bytes can be read, to compare with cryptography."""
    label = "extractable-test-kek"
    with logged_in_session(softhsm) as session:
        key = session.generate_key(
            KeyType.AES,
            256,
            label=label,
            store=True,
            template={
                Attribute.EXTRACTABLE: True,
                Attribute.SENSITIVE: False,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
            },
        )
        value = bytes(key[Attribute.VALUE])
    return label, value


@pytest.fixture
def kek(softhsm: SoftHsm) -> Iterator[Pkcs11Kek]:
    with open_kek(softhsm, "round-trip-kek", create=True) as opened:
        yield opened


def test_pkcs11_kek_satisfies_the_kek_protocol(kek: Pkcs11Kek) -> None:
    assert isinstance(kek, Kek)
    assert kek.kek_id == "pkcs11:cifer-test/round-trip-kek"


def test_generated_kek_value_cannot_be_read(softhsm: SoftHsm, generated_kek_label: str) -> None:
    with logged_in_session(softhsm) as session:
        key = session.get_key(label=generated_kek_label)
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]


def test_generated_kek_is_sensitive_and_never_extractable(
    softhsm: SoftHsm, generated_kek_label: str
) -> None:
    with logged_in_session(softhsm) as session:
        key = session.get_key(label=generated_kek_label)
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.ALWAYS_SENSITIVE] is True


def test_generated_kek_cannot_be_made_extractable(
    softhsm: SoftHsm, generated_kek_label: str
) -> None:
    with logged_in_session(softhsm) as session:
        key = session.get_key(label=generated_kek_label)
        with pytest.raises(p11.PKCS11Error):
            key[Attribute.EXTRACTABLE] = True


def test_generated_kek_cannot_be_wrapped_out_by_another_key(
    softhsm: SoftHsm, generated_kek_label: str
) -> None:
    with logged_in_session(softhsm) as session:
        key = session.get_key(label=generated_kek_label)
        other = session.generate_key(
            KeyType.AES, 256, store=False, template={Attribute.WRAP: True}
        )
        with pytest.raises(p11.KeyUnextractable):
            other.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)


@pytest.mark.parametrize("seed", [SEED_64, SEED_32], ids=["64-byte", "32-byte"])
def test_wrap_then_unwrap_returns_the_seed(kek: Pkcs11Kek, seed: bytes) -> None:
    wrapped = kek.wrap(seed)
    assert len(wrapped) == len(seed) + 8
    assert kek.unwrap(wrapped) == seed


@pytest.mark.parametrize("seed", [SEED_64, SEED_32], ids=["64-byte", "32-byte"])
def test_wrap_output_equals_cryptography_rfc5649(
    softhsm: SoftHsm, extractable_kek: tuple[str, bytes], seed: bytes
) -> None:
    label, key_value = extractable_kek
    with open_kek(softhsm, label, create=False, unsafe_allow_extractable_kek=True) as kek:
        assert kek.wrap(seed) == aes_key_wrap_with_padding(key_value, seed)


def test_unwraps_a_blob_made_by_cryptography(
    softhsm: SoftHsm, extractable_kek: tuple[str, bytes]
) -> None:
    label, key_value = extractable_kek
    with open_kek(softhsm, label, create=False, unsafe_allow_extractable_kek=True) as kek:
        assert kek.unwrap(aes_key_wrap_with_padding(key_value, SEED_64)) == SEED_64


def test_extractable_kek_is_refused_without_the_unsafe_switch(
    softhsm: SoftHsm, extractable_kek: tuple[str, bytes]
) -> None:
    label, _ = extractable_kek
    with pytest.raises(KeystoreUnavailable, match="extractable"):
        open_kek(softhsm, label, create=False)


def test_cryptography_unwraps_what_the_token_wrapped(
    softhsm: SoftHsm, extractable_kek: tuple[str, bytes]
) -> None:
    label, key_value = extractable_kek
    with open_kek(softhsm, label, create=False, unsafe_allow_extractable_kek=True) as kek:
        wrapped = kek.wrap(SEED_32)
    assert aes_key_unwrap_with_padding(key_value, wrapped) == SEED_32


_CHILD = """
import sys
from cifer.keystore.pkcs11_kek import Pkcs11Kek

library, token, pin, label, action, data = sys.argv[1:]
with Pkcs11Kek.open(library, token, pin, label, create=action == "wrap") as kek:
    out = kek.wrap(bytes.fromhex(data)) if action == "wrap" else kek.unwrap(bytes.fromhex(data))
sys.stdout.write(out.hex())
"""


def _run_child(softhsm: SoftHsm, label: str, action: str, data: bytes) -> bytes:
    env = {**softhsm.env, "PYTHONPATH": str(REPO_ROOT)}
    argv = [softhsm.library_path, softhsm.token_label, softhsm.pin, label, action, data.hex()]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return bytes.fromhex(done.stdout)


def test_wrapped_seed_survives_a_process_restart(softhsm: SoftHsm) -> None:
    wrapped = _run_child(softhsm, "restart-kek", "wrap", SEED_64)
    assert _run_child(softhsm, "restart-kek", "unwrap", wrapped) == SEED_64


_DESTROY_KEY = """
import sys
import pkcs11

library, token, pin, label = sys.argv[1:]
session = pkcs11.lib(library).get_token(token_label=token).open(user_pin=pin, rw=True)
session.get_key(label=label).destroy()
session.close()
"""


def test_kek_removed_from_the_token_is_unavailable_not_an_invalid_blob(softhsm: SoftHsm) -> None:
    with open_kek(softhsm, "vanishing-kek", create=True) as kek:
        wrapped = kek.wrap(SEED_64)
        argv = [softhsm.library_path, softhsm.token_label, softhsm.pin, "vanishing-kek"]
        subprocess.run(
            [sys.executable, "-c", _DESTROY_KEY, *argv], env=softhsm.env, check=True, timeout=60
        )
        with pytest.raises(KeystoreUnavailable):
            kek.unwrap(wrapped)


def test_wrong_pin_is_unavailable_and_the_message_omits_the_pin(softhsm: SoftHsm) -> None:
    wrong_pin = "918273"
    with pytest.raises(KeystoreUnavailable) as raised:
        Pkcs11Kek.open(
            softhsm.library_path, softhsm.token_label, wrong_pin, "round-trip-kek", create=False
        )
    assert "wrong PIN" in str(raised.value)
    assert wrong_pin not in str(raised.value)


def test_missing_library_is_unavailable(softhsm: SoftHsm, tmp_path: Path) -> None:
    missing = str(tmp_path / "libnothing.so")
    with pytest.raises(KeystoreUnavailable, match="PKCS#11 library not found"):
        Pkcs11Kek.open(missing, softhsm.token_label, softhsm.pin, create=True)


def test_unknown_token_label_is_unavailable(softhsm: SoftHsm) -> None:
    with pytest.raises(KeystoreUnavailable, match="no token labelled 'no-such-token'"):
        Pkcs11Kek.open(softhsm.library_path, "no-such-token", softhsm.pin, create=True)


def test_missing_key_without_create_is_unavailable(softhsm: SoftHsm) -> None:
    with pytest.raises(KeystoreUnavailable, match="no key labelled 'never-created'"):
        open_kek(softhsm, "never-created", create=False)


def test_second_open_of_the_same_token_is_refused(softhsm: SoftHsm, kek: Pkcs11Kek) -> None:
    with pytest.raises(KeystoreUnavailable, match="already open"):
        Pkcs11Kek.open(
            softhsm.library_path, softhsm.token_label, "wrong", "round-trip-kek", create=False
        )


def test_token_can_be_reopened_after_close(softhsm: SoftHsm) -> None:
    open_kek(softhsm, "round-trip-kek").close()
    with open_kek(softhsm, "round-trip-kek", create=False) as reopened:
        assert reopened.unwrap(reopened.wrap(SEED_32)) == SEED_32


@pytest.mark.parametrize("bit", [0, 63, 64, 300, 575])
def test_flipped_bit_is_an_invalid_wrapped_key(kek: Pkcs11Kek, bit: int) -> None:
    wrapped = bytearray(kek.wrap(SEED_64))
    wrapped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidWrappedKey):
        kek.unwrap(bytes(wrapped))


@pytest.mark.parametrize("cut", [1, 8, 40])
def test_truncated_blob_is_an_invalid_wrapped_key(kek: Pkcs11Kek, cut: int) -> None:
    wrapped = kek.wrap(SEED_64)
    with pytest.raises(InvalidWrappedKey):
        kek.unwrap(wrapped[:-cut])


def test_blob_of_another_kek_is_an_invalid_wrapped_key(softhsm: SoftHsm) -> None:
    with open_kek(softhsm, "round-trip-kek") as first:
        wrapped = first.wrap(SEED_64)
    with open_kek(softhsm, "other-kek") as second, pytest.raises(InvalidWrappedKey):
        second.unwrap(wrapped)


def test_creating_twice_reuses_the_same_kek(softhsm: SoftHsm) -> None:
    with open_kek(softhsm, "create-twice-kek", create=True) as first:
        wrapped = first.wrap(SEED_64)
    with open_kek(softhsm, "create-twice-kek", create=True) as second:
        assert second.unwrap(wrapped) == SEED_64


def test_concurrent_wraps_and_unwraps_stay_correct(kek: Pkcs11Kek) -> None:
    def round_trips(worker: int) -> bool:
        seed = bytes([worker]) * 64
        return all(kek.unwrap(kek.wrap(seed)) == seed for _ in range(50))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(round_trips, range(8)))


def test_closed_kek_is_unavailable(softhsm: SoftHsm) -> None:
    kek = open_kek(softhsm, "round-trip-kek")
    kek.close()
    kek.close()
    with pytest.raises(KeystoreUnavailable, match="closed"):
        kek.wrap(SEED_32)


@pytest.mark.parametrize("length", [8, 15, 17, 1032])
def test_wrap_refuses_a_secret_of_a_bad_length(kek: Pkcs11Kek, length: int) -> None:
    with pytest.raises(ValueError):
        kek.wrap(bytes(length))
