"""Keys and recipients shared by the envelope tests (one keyring per suite, made once)."""

from __future__ import annotations

import functools

from cifer.crypto.suites import Suite, all_suites
from cifer.envelope import Keyring, Recipient

CIFER_ID = "cif_testtesttest"  # 16 characters: the shortest id the format allows
SUITES = list(all_suites())


@functools.cache
def keyring_for(suite: Suite) -> tuple[Keyring, Recipient, Recipient]:
    """A keyring holding versions 1 and 2 of CIFER_ID, and their recipients."""
    keyring = Keyring()
    v1 = keyring.add(CIFER_ID, 1, suite, suite.generate_seed())
    v2 = keyring.add(CIFER_ID, 2, suite, suite.generate_seed())
    return keyring, v1, v2
