"""Issue 15, defect 1, attacked from outside: the real `cifer keyservice serve` on a real
SQLite file in its data directory, the log wiped or rolled back with raw SQL exactly as an
attacker with the file would, and `cifer keyservice audit verify` run as an operator runs it."""

from __future__ import annotations

import json
import time

from keyservice.served import Service, api_key, downgrade, raw_sql, verify


def checkpoint_seq(data) -> int:
    path = data / "audit-checkpoint.json"
    return json.loads(path.read_text())["seq"] if path.exists() else -1


def wait_for_checkpoint(data, seq: int) -> None:
    deadline = time.monotonic() + 20
    while checkpoint_seq(data) != seq:
        assert time.monotonic() < deadline, f"no checkpoint at record {seq}"
        time.sleep(0.05)


def test_an_intact_log_verifies_with_and_without_its_checkpoints(data, services):
    key = api_key(data)
    services.append(service := Service(data))
    service.create_cifers(key, 3)
    wait_for_checkpoint(data, 3)
    service.stop()
    for args in ((), ("--checkpoint", str(data / "audit-checkpoint.json")), ("--checkpoint", str(service.stream))):
        result = verify(data, *args)
        assert result.returncode == 0, result.stderr
        assert "audit log intact: 3 records" in result.stdout


def test_a_wiped_log_fails_verification(data, services):
    key = api_key(data)
    services.append(service := Service(data))
    service.create_cifers(key, 4)
    service.stop()
    raw_sql(data, "delete from audit_log", "delete from audit_head")
    assert raw_sql(data, "select count(*) from cifers") == [(4,)]  # the cifers remain
    result = verify(data)
    assert result.returncode == 1
    assert "audit log ALTERED after 0 good records: the log head is missing" in result.stderr


def test_a_wiped_log_of_a_running_service_is_not_restarted_as_a_new_chain(data, services):
    key = api_key(data)
    services.append(service := Service(data))
    service.create_cifers(key, 2)
    raw_sql(data, "delete from audit_log", "delete from audit_head")
    status, body = service.call("POST", "/v1/cifers", key, {"name": "after"})
    assert status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert raw_sql(data, "select count(*) from cifers") == [(2,)]  # refused, not done unaudited
    service.stop()
    result = verify(data)
    assert result.returncode == 1 and "the log head is missing" in result.stderr


def test_a_tail_cut_back_to_a_saved_head_fails_against_a_checkpoint(data, services):
    alice = api_key(data)
    services.append(service := Service(data))
    cifers = service.create_cifers(alice, 3)
    (saved,) = raw_sql(data, "select id, seq, hash, mac from audit_head")
    assert saved[1] == 3
    for cid in cifers:  # later records, which the attacker wants gone
        assert service.call("POST", f"/v1/cifers/{cid}/rotate", alice, {})[0] == 200
    wait_for_checkpoint(data, 6)
    (kept,) = [line for line in service.stream.read_text().splitlines() if '"audit_checkpoint"' in line and '"seq": 6' in line]
    kept = json.loads(kept)
    # The rollback, while the service runs: rows above the saved head deleted, that head put back.
    raw_sql(data, "delete from audit_log where seq > 3", "delete from audit_head",
            f"insert into audit_head (id, seq, hash, mac) values {saved!r}")
    time.sleep(1)  # the checkpoint writer sees it; it must not replace its checkpoint with the earlier head
    err = service.stop()
    assert "no longer holds its checkpoint at record 6" in err
    plain = verify(data)  # the chain and the head alone are consistent: what the database cannot show
    assert plain.returncode == 0 and "intact: 3 records" in plain.stdout
    for args in (("--checkpoint", str(data / "audit-checkpoint.json")), ("--checkpoint", str(service.stream)),
                 ("--expect", f"{kept['seq']}:{kept['hash']}")):
        result = verify(data, *args)
        assert result.returncode == 1, (args, result.stdout)
        assert ("the log ends at record 3 but a checkpoint names record 6: records after 3 were removed "
                "(the log was rolled back)") in result.stderr


def test_a_head_moved_back_by_hand_is_refused_not_chained_on(data, services):
    alice = api_key(data)
    services.append(service := Service(data))
    service.create_cifers(alice, 2)
    service.stop()
    raw_sql(data, "delete from audit_log where seq = 2",
            "update audit_head set seq = 1, hash = (select hash from audit_log where seq = 1)")
    services.append(service := Service(data))
    status, body = service.call("POST", "/v1/cifers", alice, {"name": "after"})
    assert status == 503 and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "the audit log's head is altered" in service.stop()
    result = verify(data)
    assert result.returncode == 1 and "the log head was altered" in result.stderr


def test_a_forged_or_malformed_checkpoint_is_refused_clearly(data, services):
    key = api_key(data)
    services.append(service := Service(data))
    service.create_cifers(key, 1)
    wait_for_checkpoint(data, 1)
    service.stop()
    point = json.loads((data / "audit-checkpoint.json").read_text())
    (data / "forged.json").write_text(json.dumps({**point, "seq": 9}) + "\n")
    result = verify(data, "--checkpoint", str(data / "forged.json"))
    assert result.returncode == 1 and "checkpoint at record 9 was not made with this log's audit key" in result.stderr
    (data / "junk.json").write_text('{"audit_checkpoint": true, "seq": "x"}\n')
    result = verify(data, "--checkpoint", str(data / "junk.json"))
    assert result.returncode == 2 and "line 1: a checkpoint needs seq, hash, at and mac" in result.stderr
    (first,) = raw_sql(data, "select hash from audit_log where seq = 1")
    result = verify(data, "--expect", f"1:{'0' * 64}")
    assert result.returncode == 1 and "record 1 differs from the checkpoint of record 1" in result.stderr
    assert verify(data, "--expect", f"1:{first[0]}").returncode == 0
    noise = data / "noise.jsonl"  # a saved stream whose records carry the marker inside them
    noise.write_text(json.dumps({"audit": True, "details": {"audit_checkpoint": True}}) + "\nnot json\n"
                     + (data / "audit-checkpoint.json").read_text())
    assert verify(data, "--checkpoint", str(noise)).returncode == 0
    result = verify(data, "--expect", "12:nothex")
    assert result.returncode == 2 and "SEQ:HASH" in result.stderr and "Traceback" not in result.stderr


def test_an_upgraded_database_with_an_empty_log_gets_its_genesis_and_a_wipe_does_not(data, services):
    services.append(service := Service(data))  # the audit key is made at the first start, with its genesis head
    service.stop()
    assert verify(data).returncode == 0
    # A database from before genesis heads: an audit key, no head, an empty log, at schema 0004 (the
    # later migrations' downgrades first, then 0005's head taken away as it was before 0005).
    downgrade(data, "0005")
    raw_sql(data, "delete from audit_head", "update alembic_version set version_num = '0004'")
    result = verify(data)  # migrates to 0005, which gives the head; the audit key seals it
    assert result.returncode == 0, result.stderr
    assert "intact: 0 records" in result.stdout
    raw_sql(data, "delete from audit_head")  # the same state, once the upgrade is done, is a wipe
    result = verify(data)
    assert result.returncode == 1 and "the log head is missing" in result.stderr
