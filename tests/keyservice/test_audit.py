"""The audit log: every decrypt recorded; any edit, deletion or cut tail found by
`cifer keyservice audit verify`; no decrypt when the record cannot be written; and the audit
query, whole for an admin, of their own cifers for an owner."""

from __future__ import annotations

import json
import subprocess
import sys

from cifer.envelope import encrypt
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient, sql


def verify(keyservice) -> subprocess.CompletedProcess:
    kek = keyservice.settings.kek.path
    return subprocess.run(
        [sys.executable, "-m", "cifer.cli", "keyservice", "--database-url", keyservice.settings.database_url,
         "--kek-file", str(kek), "--data-dir", str(kek.parent), "audit", "verify"],
        capture_output=True, text=True, timeout=60,
    )


async def decrypt_some(keyservice, n: int = 3):
    alice = await keyservice.api_key("usr_alice")
    mallory = await keyservice.api_key("usr_mallory")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    for _ in range(n):
        await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=alice, expect=200)
    await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=mallory, expect=403)
    return cid, header, alice


async def test_every_decrypt_is_recorded_with_who_what_and_outcome(keyservice):
    cid, _, _ = await decrypt_some(keyservice, n=3)
    rows = await sql(keyservice, "SELECT principal, operation, cifer_id, key_version, outcome, request_id "
                                 "FROM audit_log ORDER BY seq")
    decrypts = [r for r in rows if r[1] == "decrypt"]
    assert [(r[0], r[4]) for r in decrypts] == [("usr_alice", "success")] * 3 + [("usr_mallory", "denied")]
    assert all(r[2] == cid and r[3] == 1 and r[5].startswith("req_") for r in decrypts)
    assert rows[0][1] == "create"
    lines = [json.loads(line) for line in keyservice.audit_lines.getvalue().splitlines()]
    lines = [line for line in lines if line.get("audit")]  # checkpoint lines are not records
    assert [line["operation"] for line in lines] == [r[1] for r in rows]  # stdout mirrors the table


async def test_an_intact_log_verifies(keyservice):
    await decrypt_some(keyservice)
    result = verify(keyservice)
    assert result.returncode == 0, result.stderr
    assert "intact: 5 records" in result.stdout


async def test_an_edited_record_fails_verification(keyservice):
    await decrypt_some(keyservice)
    await sql(keyservice, "UPDATE audit_log SET outcome = 'success' WHERE principal = 'usr_mallory'")
    result = verify(keyservice)
    assert result.returncode == 1 and "record 5 was altered" in result.stderr


async def test_a_deleted_record_fails_verification(keyservice):
    await decrypt_some(keyservice)
    await sql(keyservice, "DELETE FROM audit_log WHERE seq = 3")
    result = verify(keyservice)
    assert result.returncode == 1 and "missing" in result.stderr


async def test_a_cut_tail_fails_verification_even_with_the_head_moved_back(keyservice):
    await decrypt_some(keyservice)
    await sql(keyservice, "DELETE FROM audit_log WHERE seq = 5")
    result = verify(keyservice)
    assert result.returncode == 1 and "head names record 5" in result.stderr
    (prev,) = await sql(keyservice, "SELECT hash FROM audit_log WHERE seq = 4")
    await sql(keyservice, f"UPDATE audit_head SET seq = 4, hash = '{prev[0]}'")
    result = verify(keyservice)
    assert result.returncode == 1 and "head was altered" in result.stderr


async def test_with_the_audit_store_unwritable_decrypts_are_refused(keyservice):
    cid, header, alice = await decrypt_some(keyservice, n=1)
    if keyservice.settings.database_url.startswith("sqlite"):
        await sql(keyservice, "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log "
                              "BEGIN SELECT RAISE(ABORT, 'audit store unwritable'); END")
    else:
        await sql(keyservice,
                  "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit store unwritable'; "
                  "END $$ LANGUAGE plpgsql",
                  "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_down()")
    resp, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=alice)
    assert resp.status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "data_key" not in json.dumps(body)
    resp, body = await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={}, headers=alice)
    assert resp.status == 503
    _, key = await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    assert key["data"]["key_version"] == 1  # the rotation did not happen without its record


async def test_the_audit_query_filters_pages_and_summarizes_for_admins(keyservice):
    cid, _, _ = await decrypt_some(keyservice, n=3)
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))
    _, body = await keyservice.call("GET", "/v1/audit", params={"operation": "decrypt", "limit": "2"},
                                    headers=admin, expect=200)
    data = body["data"]
    assert data["pagination"] == {"page": 1, "limit": 2, "total": 4, "total_pages": 2}
    assert [e["principal"] for e in data["audit_logs"]] == ["usr_mallory", "usr_alice"]  # newest first
    assert data["summary"]["outcome_breakdown"] == {"success": 3, "denied": 1, "failure": 0}
    _, page2 = await keyservice.call("GET", "/v1/audit", params={"operation": "decrypt", "limit": "2", "page": "2"},
                                     headers=admin, expect=200)
    assert len(page2["data"]["audit_logs"]) == 2
    _, body = await keyservice.call("GET", "/v1/audit", headers=admin, expect=200,
                                    params={"cifer_id": cid, "principal": "usr_mallory", "outcome": "denied"})
    (entry,) = body["data"]["audit_logs"]
    assert (entry["operation"], entry["cifer_id"], entry["key_version"]) == ("decrypt", cid, 1)
    _, body = await keyservice.call("GET", "/v1/audit", params={"start_date": "2999-01-01T00:00:00Z"},
                                    headers=admin, expect=200)
    assert body["data"]["pagination"]["total"] == 0


async def test_an_owner_reads_the_records_of_their_own_cifers_and_an_admin_all(keyservice):
    mine, _, alice = await decrypt_some(keyservice, n=2)  # mallory's refused decrypt of alice's cifer among them
    bob = await keyservice.api_key("usr_bob")
    theirs = await new_cifer(keyservice, bob)
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))

    async def read(headers, **params):
        _, body = await keyservice.call("GET", "/v1/audit", params=params, headers=headers, expect=200)
        return {(e["cifer_id"], e["principal"], e["operation"], e["outcome"]) for e in body["data"]["audit_logs"]}

    assert await read(alice) == {(mine, "usr_alice", "create", "success"), (mine, "usr_alice", "decrypt", "success"),
                                 (mine, "usr_mallory", "decrypt", "denied")}
    assert await read(alice, cifer_id=theirs) == set()  # another owner's cifer: nothing, not a hint
    assert await read(bob) == {(theirs, "usr_bob", "create", "success")}
    assert await read(admin) == await read(alice) | await read(bob)
    _, body = await keyservice.call("GET", "/v1/audit", headers=alice, expect=200)
    assert body["data"]["pagination"]["total"] == 4 and body["data"]["summary"]["outcome_breakdown"]["denied"] == 1


async def test_a_key_neither_admin_nor_reader_is_refused_the_audit_query(keyservice):
    await decrypt_some(keyservice, n=1)
    writer = await keyservice.api_key("usr_writer", scopes=("encrypt", "decrypt"))
    _, body = await keyservice.call("GET", "/v1/audit", headers=writer, expect=403)
    assert body["success"] is False and body["error"]["code"] == "FORBIDDEN"  # seed §9.2: insufficient permissions


async def test_the_audit_query_names_a_bad_parameter(keyservice):
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))
    for params, field in [({"start_date": "yesterday"}, "start_date"), ({"outcome": "maybe"}, "outcome"),
                          ({"limit": "0"}, "limit"), ({"cifer": "x"}, "cifer"),
                          ({"end_date": "2026-01-08T10:30:00"}, "end_date"), ({"start_date": "2026-02-30"}, "start_date")]:
        _, body = await keyservice.call("GET", "/v1/audit", params=params, headers=admin, expect=400)
        assert body["error"]["details"]["field"] == field


async def test_the_audit_query_takes_any_rfc_3339_time_or_date(keyservice):
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))
    # Years 1 and 9999 with an offset fall outside Python's years once in UTC: before or after everything.
    for params in ({"start_date": "0001-01-01T00:00:00+01:00"}, {"end_date": "9999-12-31T23:59:59-01:00"},
                   {"start_date": "2026-01-08"}, {"start_date": "2016-12-31T23:59:60z"}):
        await keyservice.call("GET", "/v1/audit", params=params, headers=admin, expect=200)
