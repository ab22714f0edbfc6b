"""The NIST ML-KEM known-answer files (cryptography-vectors: kat_MLKEM_768.rsp and
kat_MLKEM_1024.rsp, 1000 cases each) through the product's suites.

For every case the private seed is d || z, as the suites store it, and:
- `public_key(seed)` is the published pk;
- `decapsulate(seed, ct)` is the published ss;
- `decapsulate(seed, ct_n)` is the published ss_n (implicit rejection of a bad ciphertext).

The file's encapsulation (pk and the fixed `msg` giving ct and ss) cannot be replayed:
`cryptography` draws the encapsulation randomness itself and offers no derandomized
encapsulation. Instead every published pk is encapsulated to through `suite.encapsulate`,
and the ciphertext must have the suite's length and decapsulate to the same shared secret.
"""

from __future__ import annotations

import functools

import pytest

import vectors
from cifer.crypto.suites import ML_KEM_1024, ML_KEM_768, SHARED_SECRET_BYTES


SUITES = pytest.mark.parametrize("suite", [ML_KEM_768, ML_KEM_1024], ids=lambda suite: suite.name)


@functools.cache
def _cases(parameter_set: str) -> tuple[vectors.NistMlKemCase, ...]:
    # Loaded inside each test, not in a fixture: a missing file then FAILS every test.
    return tuple(vectors.nist_mlkem(parameter_set))


def _count(case: vectors.NistMlKemCase) -> str:
    return f"count {case.count}"


@SUITES
def test_the_file_holds_all_1000_cases(suite):
    cases = _cases(suite.name)
    assert [case.count for case in cases] == list(range(vectors.NIST_MLKEM_CASES))


@SUITES
def test_seed_gives_the_published_public_key(suite):
    cases = _cases(suite.name)

    def check(case):
        assert suite.public_key(case.seed) == case.pk, "public key differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} public_key")


@SUITES
def test_decapsulation_gives_the_published_shared_secret(suite):
    cases = _cases(suite.name)

    def check(case):
        assert suite.decapsulate(case.seed, case.ct) == case.ss, "shared secret differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} decapsulate(ct)")


@SUITES
def test_implicit_rejection_gives_the_published_secret(suite):
    cases = _cases(suite.name)

    def check(case):
        assert suite.decapsulate(case.seed, case.ct_n) == case.ss_n, "rejection secret differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} decapsulate(ct_n)")


@SUITES
def test_encapsulation_to_the_published_key_opens_to_the_same_secret(suite):
    cases = _cases(suite.name)

    def check(case):
        shared_secret, ciphertext = suite.encapsulate(case.pk)
        assert len(ciphertext) == suite.ciphertext_bytes, f"ciphertext is {len(ciphertext)} bytes"
        assert len(shared_secret) == SHARED_SECRET_BYTES, f"shared secret is {len(shared_secret)} bytes"
        assert suite.decapsulate(case.seed, ciphertext) == shared_secret, "round trip differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} encapsulate round trip")
