"""The seed cache: the HSM unwraps a key version's seed once, not once per request; rotation and
revocation drop it at once; time and count bound it; a revoked key is refused whatever it holds."""

from __future__ import annotations

from cifer.envelope import encrypt
from cifer_keyservice.seedcache import SeedCache
from cifer_keyservice.state import DECAP
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient, sql
from keyservice.test_metrics import scrape

UNWRAPS = ("cifer_hsm_operation_seconds_count", (("operation", "unwrap"),))


class _Stored:
    def __init__(self, wrapped_seed: bytes) -> None:
        self.wrapped_seed = wrapped_seed


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _counting_unwrap():
    calls = []

    def unwrap(stored):
        calls.append(stored.wrapped_seed)
        return lambda header: b"key"
    return unwrap, calls


def test_an_entry_lives_its_ttl_from_the_unwrap_then_the_kek_is_asked_again():
    clock = _Clock()
    cache = SeedCache(ttl_s=300, size=8, clock=clock)
    unwrap, calls = _counting_unwrap()
    for clock.now in (0.0, 100.0, 299.9):
        cache.opener("cif_a", 1, _Stored(b"w"), unwrap)
    assert len(calls) == 1
    clock.now = 300.0
    cache.opener("cif_a", 1, _Stored(b"w"), unwrap)
    assert len(calls) == 2


def test_the_least_recently_used_goes_beyond_the_size_and_a_rewrapped_seed_misses():
    cache = SeedCache(ttl_s=300, size=2, clock=_Clock())
    unwrap, calls = _counting_unwrap()
    cache.opener("cif_a", 1, _Stored(b"a"), unwrap)
    cache.opener("cif_b", 1, _Stored(b"b"), unwrap)
    cache.opener("cif_a", 1, _Stored(b"a"), unwrap)  # a is the most recent now
    cache.opener("cif_c", 1, _Stored(b"c"), unwrap)  # b goes
    assert len(cache) == 2 and len(calls) == 3
    cache.opener("cif_a", 1, _Stored(b"a"), unwrap)
    assert len(calls) == 3
    cache.opener("cif_a", 1, _Stored(b"a under a new KEK"), unwrap)  # the row changed: never the old seed
    assert len(calls) == 4


def test_a_size_or_ttl_of_zero_keeps_nothing():
    for cache in (SeedCache(ttl_s=0, size=8), SeedCache(ttl_s=300, size=0)):
        unwrap, calls = _counting_unwrap()
        cache.opener("cif_a", 1, _Stored(b"a"), unwrap)
        cache.opener("cif_a", 1, _Stored(b"a"), unwrap)
        assert len(calls) == 2 and len(cache) == 0


async def _decrypt(keyservice, headers, header, expect=200):
    return await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=headers, expect=expect)


async def test_the_hsm_unwraps_a_cached_key_once_and_again_after_a_rotation(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    await _decrypt(keyservice, alice, header)
    first = (await scrape(keyservice))[UNWRAPS]
    for _ in range(5):
        await _decrypt(keyservice, alice, header)
    assert (await scrape(keyservice))[UNWRAPS] == first  # not once per request
    await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={}, headers=alice, expect=200)
    await _decrypt(keyservice, alice, header)  # version 1 is decrypt-only now: still opens
    assert (await scrape(keyservice))[UNWRAPS] == first + 1  # the rotation dropped the cached seed


async def test_revocation_drops_the_seed_and_the_key_is_refused(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    await _decrypt(keyservice, alice, header)
    seeds = keyservice.client.app[DECAP]._seeds
    assert len(seeds) == 1
    await keyservice.call("DELETE", f"/v1/cifers/{cid}", headers={**alice, "X-Confirm-Revocation": "true"}, expect=200)
    assert len(seeds) == 0
    _, body = await _decrypt(keyservice, alice, header, expect=None)
    assert body["success"] is False and body["error"]["code"] == "CIFER_REVOKED"


async def test_a_key_revoked_by_another_replica_is_refused_while_this_one_still_holds_its_seed(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    await _decrypt(keyservice, alice, header)
    await sql(keyservice, f"UPDATE cifers SET status = 'revoked' WHERE id = '{cid}'")  # another replica's revocation
    assert len(keyservice.client.app[DECAP]._seeds) == 1  # this replica never heard of it
    _, body = await _decrypt(keyservice, alice, header, expect=None)
    assert body["error"]["code"] == "CIFER_REVOKED"  # the status is read on every request
