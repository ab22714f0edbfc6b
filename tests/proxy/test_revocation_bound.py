"""A revoked API key stops working through the sidecar within the key service's
`api_key_cache_s` (5 s, as the README says), end to end: the sidecar keeps a vouched credential
no longer than the key service's own memory of it still holds (whoami's max-age), so the two
caches never add up (issue 15: they did, to 8.3 s measured).

Both servers are real (the app factories on loopback); both clocks are the test's."""

from __future__ import annotations

import dataclasses

import pytest
from cifer_keyservice.auth.middleware import API_KEY_AUTH
from cifer_proxy.app import create_app as sidecar_app
from cifer_proxy.state import CREDENTIALS
from keyservice.helpers import revoke_api_keys_of

from cifer.settings.sidecar import SidecarSettings

T0 = 1000.0
STEP_S = 0.1


@dataclasses.dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def both(keyservice, aiohttp_client):
    """The key service (api_key_cache_s 5, its default) and a sidecar in front of it, one clock."""
    assert keyservice.settings.api_key_cache_s == 5.0
    clock = Clock()
    keyservice.client.app[API_KEY_AUTH].__self__.clock = clock
    sidecar = await aiohttp_client(sidecar_app(SidecarSettings(keyservice_url=str(keyservice.client.make_url("")),
                                                                      grpc_port=0)))
    sidecar.app[CREDENTIALS].clock = clock
    return keyservice, sidecar, clock


@pytest.mark.parametrize("first_use_after_s", [0.1, 2.5, 4.8])
async def test_a_revoked_key_stops_encrypting_through_the_sidecar_within_5_s(both, first_use_after_s):
    """The worst case of two stacked caches: the key service remembers the key (a direct call),
    it is revoked, and the sidecar first asks about it at the end of the key service's window."""
    keyservice, sidecar, clock = both
    _, made = await keyservice.call("POST", "/v1/cifers", headers=await keyservice.api_key("usr_bob"),
                                    json={"name": "k"}, expect=201)
    body = {"cifer_id": made["data"]["cifer_id"], "plaintext": "eA=="}
    alice = await keyservice.api_key("usr_alice")
    await keyservice.call("GET", "/v1/whoami", headers=alice, expect=200)  # remembered from T0
    clock.now = revoked_at = T0 + STEP_S
    await revoke_api_keys_of(keyservice.settings.database_url, "usr_alice")
    last_accepted = None
    clock.now = revoked_at + first_use_after_s
    while clock.now < revoked_at + 12:
        async with sidecar.post("/v1/encrypt", json=body, headers=alice) as resp:
            assert resp.status in (200, 401), await resp.text()
            if resp.status == 200:
                last_accepted = clock.now
        clock.now += STEP_S
    assert last_accepted is not None  # the window is real: the key service still vouched
    assert last_accepted - revoked_at < keyservice.settings.api_key_cache_s


async def test_whoami_says_how_long_its_answer_holds(keyservice):
    clock = Clock()
    keyservice.client.app[API_KEY_AUTH].__self__.clock = clock
    alice = await keyservice.api_key("usr_alice")
    first, _ = await keyservice.call("GET", "/v1/whoami", headers=alice, expect=200)
    assert first.headers["Cache-Control"] == "private, max-age=5"  # read from the database now
    clock.now = T0 + 3.5
    later, _ = await keyservice.call("GET", "/v1/whoami", headers=alice, expect=200)
    assert later.headers["Cache-Control"] == "private, max-age=1"  # remembered: what is left, rounded down
