"""The X-Wing draft's three vectors (tests/vectors/xwing-draft.json) through the
X-Wing suite.

For each vector: the seed gives the published public key, and the published ciphertext
decapsulates to the published shared secret. Encapsulation is replayed for its X25519
half only: `xwing.encapsulate(pk, unsafe_x25519_ephemeral=eseed[32:])` must give the
published ct_X (the last 32 bytes of ct). The ML-KEM half's randomness, eseed[:32], cannot
be replayed: `cryptography` draws ML-KEM encapsulation randomness itself. So the full
ciphertext is checked by decapsulating it to the secret encapsulation returned.

A ciphertext whose X25519 half is a low-order point (all zeros among them) makes the
X25519 secret all zeros; decapsulation must refuse it with InvalidCiphertext.
"""

from __future__ import annotations

import functools

import vectors
from cifer.crypto import xwing
from cifer.crypto.suites import X_WING
from cifer.exceptions import InvalidCiphertext

_CT_M_BYTES = 1088  # the ML-KEM-768 ciphertext; ct_X follows it


@functools.cache
def _draft() -> tuple[vectors.XWingCase, ...]:
    # Loaded inside each test, not in a fixture: a missing file then FAILS every test.
    return tuple(vectors.xwing_draft())


def _vector(case: vectors.XWingCase) -> str:
    return f"vector {case.index}"


def test_the_file_holds_the_three_draft_vectors():
    draft = _draft()
    assert len(draft) == vectors.XWING_DRAFT_CASES
    assert all(len(case.ct) == X_WING.ciphertext_bytes for case in draft)


def test_seed_gives_the_published_public_key():
    draft = _draft()
    def check(case):
        assert X_WING.public_key(case.seed) == case.pk, "public key differs"

    failures = vectors.mishandled(draft, check, _vector)
    assert not failures, vectors.summary(failures, len(draft), "X-Wing public_key")


def test_decapsulation_gives_the_published_shared_secret():
    draft = _draft()
    def check(case):
        assert X_WING.decapsulate(case.seed, case.ct) == case.ss, "shared secret differs"

    failures = vectors.mishandled(draft, check, _vector)
    assert not failures, vectors.summary(failures, len(draft), "X-Wing decapsulate")


def test_fixed_x25519_ephemeral_gives_the_published_x25519_ciphertext():
    draft = _draft()
    def check(case):
        _, ciphertext = xwing.encapsulate(case.pk, unsafe_x25519_ephemeral=case.eseed[32:64])
        assert ciphertext[_CT_M_BYTES:] == case.ct[_CT_M_BYTES:], "ct_X differs"

    failures = vectors.mishandled(draft, check, _vector)
    assert not failures, vectors.summary(failures, len(draft), "X-Wing ct_X")


def test_fixed_x25519_ephemeral_encapsulation_opens_to_its_own_secret():
    draft = _draft()
    def check(case):
        shared_secret, ciphertext = xwing.encapsulate(case.pk, unsafe_x25519_ephemeral=case.eseed[32:64])
        assert len(ciphertext) == X_WING.ciphertext_bytes, f"ciphertext is {len(ciphertext)} bytes"
        assert X_WING.decapsulate(case.seed, ciphertext) == shared_secret, "round trip differs"

    failures = vectors.mishandled(draft, check, _vector)
    assert not failures, vectors.summary(failures, len(draft), "X-Wing encapsulate round trip")


def test_all_zero_x25519_half_is_an_invalid_ciphertext():
    draft = _draft()
    def check(case):
        ciphertext = case.ct[:_CT_M_BYTES] + bytes(32)
        vectors.expect_error(InvalidCiphertext, X_WING.decapsulate, case.seed, ciphertext)

    failures = vectors.mishandled(draft, check, _vector)
    assert not failures, vectors.summary(failures, len(draft), "X-Wing all-zero ct_X")


def test_every_low_order_x25519_half_is_an_invalid_ciphertext():
    draft = _draft()
    # Wycheproof's X25519 public values that give an all-zero secret: the low-order points
    # and their non-canonical encodings. Any clamped scalar sends them to zero.
    x25519 = vectors.wycheproof("Protocol/wycheproof/x25519_test.json")
    low_order = sorted({c.data("public") for c in x25519.cases if c.data("shared") == bytes(32)})
    assert len(low_order) >= 10, f"only {len(low_order)} low-order points in {x25519.name}"
    seed, ct_m = draft[0].seed, draft[0].ct[:_CT_M_BYTES]

    def check(point):
        vectors.expect_error(InvalidCiphertext, X_WING.decapsulate, seed, ct_m + point)

    failures = vectors.mishandled(low_order, check, lambda point: f"ct_X {point.hex()}")
    assert not failures, vectors.summary(failures, len(low_order), "X-Wing low-order ct_X")
