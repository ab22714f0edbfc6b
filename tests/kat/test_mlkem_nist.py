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

import pytest

import vectors
from cifer.crypto.suites import ML_KEM_1024, ML_KEM_768, SHARED_SECRET_BYTES


@pytest.fixture(scope="module", params=[ML_KEM_768, ML_KEM_1024], ids=lambda suite: suite.name)
def kat(request):
    return request.param, vectors.nist_mlkem(request.param.name)


def _count(case: vectors.NistMlKemCase) -> str:
    return f"count {case.count}"


def test_the_file_holds_all_1000_cases(kat):
    suite, cases = kat
    assert [case.count for case in cases] == list(range(vectors.NIST_MLKEM_CASES))


def test_seed_gives_the_published_public_key(kat):
    suite, cases = kat

    def check(case):
        assert suite.public_key(case.seed) == case.pk, "public key differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} public_key")


def test_decapsulation_gives_the_published_shared_secret(kat):
    suite, cases = kat

    def check(case):
        assert suite.decapsulate(case.seed, case.ct) == case.ss, "shared secret differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} decapsulate(ct)")


def test_implicit_rejection_gives_the_published_secret(kat):
    suite, cases = kat

    def check(case):
        assert suite.decapsulate(case.seed, case.ct_n) == case.ss_n, "rejection secret differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} decapsulate(ct_n)")


def test_encapsulation_to_the_published_key_opens_to_the_same_secret(kat):
    suite, cases = kat

    def check(case):
        shared_secret, ciphertext = suite.encapsulate(case.pk)
        assert len(ciphertext) == suite.ciphertext_bytes, f"ciphertext is {len(ciphertext)} bytes"
        assert len(shared_secret) == SHARED_SECRET_BYTES, f"shared secret is {len(shared_secret)} bytes"
        assert suite.decapsulate(case.seed, ciphertext) == shared_secret, "round trip differs"

    failures = vectors.mishandled(cases, check, _count)
    assert not failures, vectors.summary(failures, len(cases), f"{suite.name} encapsulate round trip")
