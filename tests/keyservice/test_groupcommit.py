"""Group commit: concurrent decrypts share one transaction for their audit records and counters;
if it fails, no item of the group is released (no audit record, no key); the chain stays whole."""

from __future__ import annotations

import asyncio
import json

import pytest

from cifer.envelope import encrypt
from cifer_keyservice.errors import AuditUnavailable
from cifer_keyservice.groupcommit import CommitFailed, GroupCommit
from cifer_keyservice.state import DECAP
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient
from keyservice.test_audit import verify


class _Runner:
    """A transaction that only runs its work (the writers' own failures are what is tested)."""

    async def run(self, work):
        await asyncio.sleep(0)
        return work(None)

    def close(self) -> None:
        pass


async def test_a_failing_writer_refuses_every_item_of_its_group_and_the_next_group_commits():
    group = GroupCommit(_Runner(), max_items=64, max_wait_s=0.01)
    written = []

    def fine(_session, items):
        written.extend(items)
        return [f"ok {item}" for item in items]

    def broken(_session, items):
        raise AuditUnavailable("the audit log cannot be written")

    results = await asyncio.gather(*(group.submit(fine if n % 2 else broken, n) for n in range(8)),
                                   return_exceptions=True)
    assert group.groups == 1
    assert all(isinstance(result, CommitFailed) for result in results)  # the good writer's items too
    assert await group.submit(fine, 99) == "ok 99"
    await group.close()


async def test_concurrent_decrypts_share_a_transaction_and_the_chain_verifies(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    decap = keyservice.client.app[DECAP]
    before = decap._group.groups
    answers = await asyncio.gather(*(keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]),
                                                     headers=alice) for _ in range(12)))
    assert all(resp.status == 200 for resp, _ in answers)
    assert decap._group.groups - before < 24  # 12 rate-limit counts and 12 audits in fewer transactions
    result = verify(keyservice)
    assert result.returncode == 0, result.stderr
    seqs = [json.loads(line)["seq"] for line in keyservice.audit_lines.getvalue().splitlines()]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))  # written out in commit order
    _, stats = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert stats["data"]["statistics"]["total_decryptions"] == 12


@pytest.mark.parametrize("failure", [AuditUnavailable("the audit log cannot be written"), OSError("disk gone")])
async def test_when_the_groups_audit_write_fails_no_item_of_the_group_gets_a_key(keyservice, monkeypatch, failure):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    decap = keyservice.client.app[DECAP]
    calls = []

    def failing_append(session, entries):
        calls.append(len(entries))
        raise failure

    monkeypatch.setattr(decap._audit, "append_rows", failing_append)
    answers = await asyncio.gather(*(keyservice.call("POST", "/v1/decapsulate", json=decap_body([header, header]),
                                                     headers=alice) for _ in range(8)))
    for resp, body in answers:
        assert resp.status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert "data_key" not in json.dumps(body)  # neither clear nor sealed
    assert sum(calls) == 16 and len(calls) < 8  # the requests were grouped, and each group failed whole
    monkeypatch.undo()
    _, stats = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert stats["data"]["statistics"]["total_decryptions"] == 0  # the counters rolled back with the records
    await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=alice, expect=200)
    result = verify(keyservice)
    assert result.returncode == 0, result.stderr
