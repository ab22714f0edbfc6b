"""POST /v1/usage: the sidecars' reports of their local encryptions and payload failures make
the statistics, the audit log and `decrypt.failed`; a retried report counts once; a public-key
fetch is no use and writes nothing."""

from __future__ import annotations

import asyncio

from cifer_keyservice.db.models import AuditRecord, OutboxEvent
from keyrelease_helpers import decap_body
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from cifer.api.usage import new_report_id
from cifer.envelope import encrypt
from keyservice.helpers import b64, header_of, new_cifer, recipient
from keyservice.test_webhooks import db_all


def report(*entries, report_id=None) -> dict:
    return {"report_id": report_id or new_report_id(), "entries": list(entries)}


def entry(cifer_id, encryptions=0, encrypted_bytes=0, failed_decryptions=0, start=1767225600, end=1767225605):
    return {"cifer_id": cifer_id, "encryptions": encryptions, "encrypted_bytes": encrypted_bytes,
            "failed_decryptions": failed_decryptions, "window": {"start": start, "end": end}}


async def statistics(keyservice, headers, cifer_id) -> dict:
    _, body = await keyservice.call("GET", f"/v1/cifers/{cifer_id}", headers=headers, expect=200)
    return body["data"]["statistics"]


async def test_a_report_makes_the_statistics(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    envelope = encrypt(await recipient(keyservice, cid), b"x")
    for _ in range(3):  # three data keys released: three decryptions, until one payload fails
        await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(envelope))]), headers=alice,
                              expect=200)
    _, body = await keyservice.call("POST", "/v1/usage", json=report(entry(cid, 3, 96, 1)), headers=alice, expect=200)
    assert body["data"]["duplicate"] is False and body["data"]["accepted"] == 1
    stats = await statistics(keyservice, alice, cid)
    assert (stats["total_encryptions"], stats["total_decryptions"], stats["failed_decryptions"]) == (3, 2, 1)
    assert stats["last_used_at"] is not None


async def test_the_same_report_twice_counts_once(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    once = report(entry(cid, 5, 50))
    await keyservice.call("POST", "/v1/usage", json=once, headers=alice, expect=200)
    _, again = await keyservice.call("POST", "/v1/usage", json=once, headers=alice, expect=200)
    assert again["data"]["duplicate"] is True and again["data"]["accepted"] == 0
    racing = report(entry(cid, 7, 70))
    answers = await asyncio.gather(*(keyservice.call("POST", "/v1/usage", json=racing, headers=alice, expect=200)
                                     for _ in range(2)))
    assert sorted(body["data"]["duplicate"] for _, body in answers) == [False, True]
    assert (await statistics(keyservice, alice, cid))["total_encryptions"] == 12
    records = await db_all(keyservice.settings, select(AuditRecord).where(AuditRecord.operation == "encrypt"))
    assert [r.details["count"] for r in records] == [5, 7]


async def test_the_audit_log_gets_aggregated_records_and_failures_an_event(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    sent = report(entry(cid, 3, 96, 2))
    await keyservice.call("POST", "/v1/usage", json=sent, headers=alice, expect=200)
    records = await db_all(keyservice.settings, select(AuditRecord).where(AuditRecord.cifer_id == cid,
                                                                          AuditRecord.operation != "create"))
    assert [(r.operation, r.outcome, r.principal) for r in records] == [
        ("encrypt", "success", "usr_alice"), ("decrypt", "failure", "usr_alice")]
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:05Z"}
    assert all(record.details.pop("user_agent").startswith("Python/") for record in records)
    assert records[0].details == {"count": 3, "bytes": 96, "window": window, "report_id": sent["report_id"]}
    assert records[1].details == {"error": "INVALID_CIPHERTEXT", "stage": "payload", "count": 2, "window": window,
                                  "report_id": sent["report_id"]}
    [failed] = await db_all(keyservice.settings, select(OutboxEvent).where(OutboxEvent.type == "decrypt.failed"))
    assert failed.owner_id == "usr_alice"
    assert failed.payload["data"] == {"cifer_id": cid, "name": "k", "owner_id": "usr_alice", "principal": "usr_alice",
                                      "reason": "INVALID_CIPHERTEXT", "count": 2}


async def test_only_who_may_have_the_key_reports_its_payload_failures(keyservice):
    alice, mallory = await keyservice.api_key("usr_alice"), await keyservice.api_key("usr_mallory")
    cid = await new_cifer(keyservice, alice)
    _, body = await keyservice.call("POST", "/v1/usage", json=report(entry(cid, 1, 10, 4)), headers=mallory,
                                    expect=200)
    assert body["data"]["refused_cifer_ids"] == [cid] and body["data"]["accepted"] == 1
    stats = await statistics(keyservice, alice, cid)
    assert (stats["total_encryptions"], stats["failed_decryptions"]) == (1, 0)  # anyone may encrypt


async def test_unknown_cifers_are_named_and_change_nothing(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, body = await keyservice.call("POST", "/v1/usage", json=report(entry("cif_" + "x" * 24, 1, 1)), headers=alice,
                                    expect=200)
    assert body["data"]["unknown_cifer_ids"] == ["cif_" + "x" * 24] and body["data"]["accepted"] == 0


async def test_a_bad_report_is_a_400_naming_the_field(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    for body, field in (({}, "report_id"), (report(), "entries"), ({**report(entry(cid, 1)), "x": 1}, "body"),
                        (report(entry(cid, 1), report_id="urp_short"), "report_id"),
                        (report(entry(cid, -1)), "entries[0].encryptions"),
                        (report(entry(cid, True)), "entries[0].encryptions"),
                        (report(entry(cid, 1, start=9, end=8)), "entries[0].window"),
                        (report({**entry(cid, 1), "labels": {"color": "red"}}), "entries[0].labels"),
                        (report({**entry(cid, 1), "labels": {"user_id": "u" * 129}}), "entries[0].labels"),
                        (report({**entry(cid, 1), "labels": {"data_type": ""}}), "entries[0].labels"),
                        (report(entry(cid, 1), *[entry(cid, 1)] * 1000), "entries")):
        _, answer = await keyservice.call("POST", "/v1/usage", json=body, headers=alice, expect=400)
        assert answer["error"]["details"]["field"] == field, (body, answer)


async def test_each_claim_needs_its_scope_and_a_report_a_credential(keyservice):
    await keyservice.call("POST", "/v1/usage", json=report(entry("cif_" + "x" * 24, 1)), expect=401)
    alice = await keyservice.api_key("usr_alice")
    decrypter = await keyservice.api_key("usr_alice", scopes=("decrypt",))
    encrypter = await keyservice.api_key("usr_alice", scopes=("encrypt",))
    cid = await new_cifer(keyservice, alice)
    _, body = await keyservice.call("POST", "/v1/usage", json=report(entry(cid, 2, 20, 1)), headers=decrypter,
                                    expect=200)
    assert body["data"]["refused_cifer_ids"] == [cid]  # its encryptions: it could not have made them here
    _, body = await keyservice.call("POST", "/v1/usage", json=report(entry(cid, 3, 30)), headers=encrypter,
                                    expect=200)
    assert body["data"]["refused_cifer_ids"] == []
    stats = await statistics(keyservice, alice, cid)
    assert (stats["total_encryptions"], stats["failed_decryptions"]) == (3, 1)


async def test_a_public_key_fetch_is_no_use_and_writes_nothing(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    before = await statistics(keyservice, alice, cid)
    written: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
            written.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        for _ in range(5):
            await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    # Not even the seed's per-address limit of the fetch (§8.1) writes: it is counted in memory.
    assert written == []
    assert await statistics(keyservice, alice, cid) == before == {
        "total_encryptions": 0, "total_decryptions": 0, "failed_decryptions": 0, "last_used_at": None}
