"""Through the sidecar, a replayed answer says so (issue 15, defect 9): the key service's
`Idempotent-Replayed` header passes through, and a replay costs the caller no quota."""

from __future__ import annotations


async def test_the_sidecar_passes_the_replay_header_through_and_a_replay_costs_nothing(alice):
    headers = {"X-Idempotency-Key": "create-once-15"}
    first, created = await alice.call("POST", "/v1/cifers", expect=201, json={"name": "once"}, headers=headers)
    assert "Idempotent-Replayed" not in first.headers
    remaining = int(first.headers["X-RateLimit-Remaining"])
    for _ in range(3):
        again, replayed = await alice.call("POST", "/v1/cifers", expect=201, json={"name": "once"}, headers=headers)
        assert again.headers["Idempotent-Replayed"] == "true" and replayed["data"] == created["data"]
    other, _ = await alice.call("POST", "/v1/cifers", expect=201, json={"name": "twice"})
    assert int(other.headers["X-RateLimit-Remaining"]) == remaining - 1  # the replays took none
