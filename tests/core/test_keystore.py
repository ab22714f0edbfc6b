"""The keystore end to end on a real SoftHSM2 token: keys generated under the HSM KEK seal
envelopes that only the wrapped seed, unwrapped by the token, can open."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from cifer.crypto.suites import kem_suites, suite_by_name
from cifer.envelope import Recipient, decrypt, encrypt
from cifer.exceptions import InvalidCiphertext, InvalidWrappedKey
from cifer.keystore.file_kek import FileKek
from cifer.keystore.pkcs11_kek import Pkcs11Kek
from cifer.keystore.store import Keystore, StoredKey

SUITES = list(kem_suites())  # key pairs are per KEM; the payload AEAD plays no part
CIFER_ID = "cif_keystoretest01"


@pytest.fixture
def hsm_keystore(softhsm):
    kek = Pkcs11Kek.open(softhsm.library_path, softhsm.token_label, softhsm.pin, "keystore-test", create=True)
    yield Keystore(kek)
    kek.close()


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_a_key_made_under_the_hsm_opens_what_its_public_key_sealed(hsm_keystore, suite):
    stored = hsm_keystore.generate(suite)
    assert len(stored.public_key) == suite.public_key_bytes
    assert len(stored.wrapped_seed) == suite.seed_bytes + 8  # RFC 5649 of the seed, nothing more
    envelope = encrypt(Recipient(CIFER_ID, 1, suite, stored.public_key), b"secret payload")
    assert decrypt(envelope, lambda header: hsm_keystore.open_slot(header, stored)) == b"secret payload"


def test_a_damaged_wrapped_seed_is_an_invalid_wrapped_key_not_an_invalid_ciphertext(hsm_keystore):
    suite = SUITES[0]
    stored = hsm_keystore.generate(suite)
    envelope = encrypt(Recipient(CIFER_ID, 1, suite, stored.public_key), b"x")
    damaged = StoredKey(suite, stored.public_key, bytes([stored.wrapped_seed[0] ^ 1]) + stored.wrapped_seed[1:],
                        stored.kek_id)
    with pytest.raises(InvalidWrappedKey):
        decrypt(envelope, lambda header: hsm_keystore.open_slot(header, damaged))


def test_another_keys_envelope_is_an_invalid_ciphertext(hsm_keystore):
    suite = SUITES[0]
    mine, theirs = hsm_keystore.generate(suite), hsm_keystore.generate(suite)
    envelope = encrypt(Recipient(CIFER_ID, 1, suite, theirs.public_key), b"x")
    with pytest.raises(InvalidCiphertext):
        decrypt(envelope, lambda header: hsm_keystore.open_slot(header, mine))


def test_a_seed_wrapped_by_another_kek_is_refused_before_unwrapping(hsm_keystore, tmp_path):
    file_keystore = Keystore(FileKek.open(tmp_path / "kek.key", create=True))
    stored = file_keystore.generate(SUITES[0])
    envelope = encrypt(Recipient(CIFER_ID, 1, SUITES[0], stored.public_key), b"x")
    with pytest.raises(InvalidWrappedKey):
        decrypt(envelope, lambda header: hsm_keystore.open_slot(header, stored))


_SEAL = textwrap.dedent("""
    import json, sys
    from cifer.crypto.suites import suite_by_name
    from cifer.envelope import Recipient, encrypt
    from cifer.keystore.pkcs11_kek import Pkcs11Kek
    from cifer.keystore.store import Keystore
    lib, token, pin, suite_name = sys.argv[1:]
    kek = Pkcs11Kek.open(lib, token, pin, "restart-test", create=True)
    stored = Keystore(kek).generate(suite_by_name(suite_name))
    envelope = encrypt(Recipient("cif_restartrestart", 1, stored.suite, stored.public_key), b"survives restarts")
    kek.close()
    print(json.dumps({"public_key": stored.public_key.hex(), "wrapped_seed": stored.wrapped_seed.hex(),
                      "kek_id": stored.kek_id, "envelope": envelope.hex()}))
""")


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_an_envelope_sealed_in_one_process_opens_in_another_from_the_wrapped_seed(softhsm, suite):
    sealed = subprocess.run(
        [sys.executable, "-c", _SEAL, softhsm.library_path, softhsm.token_label, softhsm.pin, suite.name],
        env=softhsm.env, capture_output=True, text=True, check=True,
    )
    record = json.loads(sealed.stdout)
    stored = StoredKey(suite_by_name(suite.name), bytes.fromhex(record["public_key"]),
                       bytes.fromhex(record["wrapped_seed"]), record["kek_id"])
    kek = Pkcs11Kek.open(softhsm.library_path, softhsm.token_label, softhsm.pin, "restart-test", create=False)
    try:
        opened = decrypt(bytes.fromhex(record["envelope"]), lambda header: Keystore(kek).open_slot(header, stored))
    finally:
        kek.close()
    assert opened == b"survives restarts"
