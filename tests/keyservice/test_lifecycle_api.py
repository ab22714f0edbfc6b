"""The seed's lifecycle API (§4.1, 4.2, 4.5, 4.6, 4.7) over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime

from cifer.crypto.suites import ML_KEM_768, suite_by_name
from cifer.envelope import Recipient, encrypt

CREATE = {
    "name": "my-encryption-key",
    "description": "Production encryption key for user data",
    "metadata": {"environment": "production", "team": "backend"},
    "policy": {"auto_rotate_days": 90, "allowed_operations": ["encrypt", "decrypt", "rotate", "revoke"]},
}


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


async def test_create_returns_201_and_the_seeds_body(keyservice):
    alice = await keyservice.api_key("usr_alice")
    resp, body = await keyservice.call("POST", "/v1/cifers", json=CREATE, headers=alice, expect=201)
    data = body["data"]
    assert body["success"] is True and body["meta"]["request_id"] == resp.headers["X-Request-ID"]
    assert data["cifer_id"].startswith("cif_") and len(data["cifer_id"]) == 28
    assert {k: data[k] for k in ("name", "description", "status", "owner_id", "key_version", "metadata")} == {
        "name": CREATE["name"], "description": CREATE["description"], "status": "active",
        "owner_id": "usr_alice", "key_version": 1, "metadata": CREATE["metadata"],
    }
    assert data["policy"]["auto_rotate_days"] == 90
    raw = ML_KEM_768.public_key_from_der(base64.b64decode(data["encapsulation_key"]))
    assert len(raw) == ML_KEM_768.public_key_bytes
    parse_time(data["created_at"])


async def test_get_reports_the_cifer_and_its_usage(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, created = await keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=alice, expect=201)
    cid = created["data"]["cifer_id"]
    await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    _, body = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    data = body["data"]
    assert data["key_algorithm"] == "ML-KEM-768" and data["key_version"] == 1
    # A public-key fetch is not a use (issue 15): only what the sidecars report is.
    assert data["statistics"]["total_encryptions"] == 0
    assert data["statistics"]["last_used_at"] is None
    await keyservice.call("POST", "/v1/usage", headers=alice, expect=200, json={
        "report_id": "urp_" + "0" * 32, "entries": [{"cifer_id": cid, "encryptions": 2, "encrypted_bytes": 20,
                                                     "window": {"start": 1, "end": 2}}]})
    _, body = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    data = body["data"]
    assert data["statistics"]["total_encryptions"] == 2
    assert data["statistics"]["total_decryptions"] == 0
    assert data["statistics"]["last_used_at"] is not None


async def test_get_also_gives_the_current_public_key_its_age_and_the_next_rotation(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, created = await keyservice.call("POST", "/v1/cifers", json=CREATE, headers=alice, expect=201)
    cid = created["data"]["cifer_id"]
    _, body = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    _, public = await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    data = body["data"]
    assert data["encapsulation_key"] == public["data"]["encapsulation_key"]
    assert data["next_rotation_at"] == public["data"]["valid_until"]
    made, due = parse_time(data["key_created_at"]), parse_time(data["next_rotation_at"])
    assert due - made == datetime.timedelta(days=90)
    await keyservice.call("DELETE", f"/v1/cifers/{cid}", headers={**alice, "X-Confirm-Revocation": "true"}, expect=200)
    _, body = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert body["data"]["status"] == "revoked" and "encapsulation_key" not in body["data"]


async def test_public_key_needs_no_authentication_and_encrypts(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, created = await keyservice.call("POST", "/v1/cifers", json={"name": "k", "algorithm": "X-Wing"},
                                       headers=alice, expect=201)
    cid = created["data"]["cifer_id"]
    _, body = await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    data = body["data"]
    assert data["algorithm"] == "X-Wing" and data["key_version"] == 1 and data["valid_until"] is None
    suite = suite_by_name(data["algorithm"])
    recipient = Recipient(cid, 1, suite, suite.public_key_from_der(base64.b64decode(data["encapsulation_key"])))
    assert encrypt(recipient, b"hello").startswith(b"CIFR")


async def test_list_pages_with_a_cursor_and_filters_by_status(keyservice):
    alice = await keyservice.api_key("usr_alice")
    bob = await keyservice.api_key("usr_bob")
    ids = set()
    for n in range(5):
        _, created = await keyservice.call("POST", "/v1/cifers", json={"name": f"k{n}"}, headers=alice, expect=201)
        ids.add(created["data"]["cifer_id"])
    await keyservice.call("POST", "/v1/cifers", json={"name": "bobs"}, headers=bob, expect=201)
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        _, body = await keyservice.call("GET", "/v1/cifers", params=params, headers=alice, expect=200)
        seen += [c["cifer_id"] for c in body["data"]["cifers"]]
        if not body["data"]["has_more"]:
            break
        cursor = body["data"]["next_cursor"]
    assert len(seen) == 5 and set(seen) == ids  # only alice's, each once
    revoked = sorted(ids)[0]
    await keyservice.call("DELETE", f"/v1/cifers/{revoked}", headers={**alice, "X-Confirm-Revocation": "true"}, expect=200)
    _, body = await keyservice.call("GET", "/v1/cifers", params={"status": "revoked"}, headers=alice, expect=200)
    assert [c["cifer_id"] for c in body["data"]["cifers"]] == [revoked]


async def test_rotate_makes_version_2_with_a_deadline_from_the_window(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, created = await keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=alice, expect=201)
    cid = created["data"]["cifer_id"]
    _, body = await keyservice.call("POST", f"/v1/cifers/{cid}/rotate",
                                    json={"reason": "scheduled_rotation", "re_encryption_window_days": 30},
                                    headers=alice, expect=200)
    data = body["data"]
    assert (data["cifer_id"], data["old_key_version"], data["new_key_version"]) == (cid, 1, 2)
    window = parse_time(data["re_encryption_deadline"]) - parse_time(data["rotation_initiated_at"])
    assert window == datetime.timedelta(days=30)
    assert data["new_encapsulation_key"] != created["data"]["encapsulation_key"]
    _, key = await keyservice.call("GET", f"/v1/keys/{cid}", expect=200)
    assert key["data"]["key_version"] == 2 and key["data"]["encapsulation_key"] == data["new_encapsulation_key"]


async def test_a_whole_number_written_with_a_fraction_is_that_number(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, created = await keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=alice, expect=201)
    _, body = await keyservice.call("POST", f"/v1/cifers/{created['data']['cifer_id']}/rotate",
                                    json={"re_encryption_window_days": 7.0}, headers=alice, expect=200)
    window = parse_time(body["data"]["re_encryption_deadline"]) - parse_time(body["data"]["rotation_initiated_at"])
    assert window == datetime.timedelta(days=7)


async def test_revoke_needs_the_confirmation_header_and_is_final(keyservice):
    alice = await keyservice.api_key("usr_alice")
    _, created = await keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=alice, expect=201)
    cid = created["data"]["cifer_id"]
    _, body = await keyservice.call("DELETE", f"/v1/cifers/{cid}", headers=alice, expect=400)
    assert body["error"]["code"] == "INVALID_REQUEST"
    _, body = await keyservice.call("DELETE", f"/v1/cifers/{cid}", headers={**alice, "X-Confirm-Revocation": "true"},
                                    expect=200)
    assert body["data"]["status"] == "revoked" and "irreversible" in body["data"]["warning"]
    for method, path in [("GET", f"/v1/keys/{cid}"), ("POST", f"/v1/cifers/{cid}/rotate"),
                         ("DELETE", f"/v1/cifers/{cid}")]:
        _, body = await keyservice.call(method, path, headers={**alice, "X-Confirm-Revocation": "true"}, expect=410)
        assert body["error"]["code"] == "CIFER_REVOKED"
    _, body = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert body["data"]["status"] == "revoked"


async def test_health_checks_database_and_keystore(keyservice):
    _, body = await keyservice.call("GET", "/v1/health", expect=200)
    assert body["data"]["checks"] == {"database": "ok", "keystore": "ok"}


async def test_bad_input_gets_the_seeds_codes(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cases = [
        ("POST", "/v1/cifers", {"data": b"{nope"}, 400, "INVALID_REQUEST", "body"),
        ("POST", "/v1/cifers", {}, 400, "INVALID_REQUEST", "body"),  # seed §4.1: the body is required
        ("POST", "/v1/cifers", {"json": {"policy": None}}, 400, "INVALID_REQUEST", "policy"),
        ("POST", "/v1/cifers/cif_AAAAAAAAAAAAAAAAAAAAAAAA/rotate", {"json": {"re_encryption_window_days": None}},
         400, "INVALID_REQUEST", "re_encryption_window_days"),
        ("POST", "/v1/cifers", {"json": {"name": "x" * 256}}, 400, "INVALID_REQUEST", "name"),
        ("POST", "/v1/cifers", {"json": {"nmae": "typo"}}, 400, "INVALID_REQUEST", "nmae"),
        ("POST", "/v1/cifers", {"json": {"metadata": {"a": 1}}}, 400, "INVALID_REQUEST", "metadata.a"),
        ("POST", "/v1/cifers", {"json": {"policy": {"auto_rotate_days": 400}}}, 400, "INVALID_REQUEST",
         "policy.auto_rotate_days"),
        ("POST", "/v1/cifers", {"json": {"policy": {"allowed_operations": ["fly"]}}}, 400, "INVALID_REQUEST",
         "policy.allowed_operations"),
        ("POST", "/v1/cifers", {"json": {"algorithm": "RSA"}}, 400, "INVALID_REQUEST", "algorithm"),
        ("GET", "/v1/cifers/not-an-id", {}, 400, "INVALID_CIFER_ID", None),
        ("GET", "/v1/keys/cif_short", {}, 400, "INVALID_CIFER_ID", None),
        ("GET", "/v1/cifers/cif_AAAAAAAAAAAAAAAAAAAAAAAA", {}, 404, "NOT_FOUND", None),
        ("GET", "/v1/keys/cif_AAAAAAAAAAAAAAAAAAAAAAAA", {}, 404, "NOT_FOUND", None),
        ("GET", "/v1/cifers", {"params": {"limit": "1000"}}, 400, "INVALID_REQUEST", "limit"),
        ("POST", "/v1/cifers", {"data": b"x" * (2 * 1024 * 1024)}, 413, "PAYLOAD_TOO_LARGE", None),
    ]
    for method, path, kwargs, status, code, field in cases:
        resp, body = await keyservice.call(method, path, headers=alice, **kwargs)
        assert (resp.status, body["error"]["code"]) == (status, code), (path, kwargs, body)
        if field:
            assert body["error"]["details"]["field"] == field


async def test_authentication_and_scopes(keyservice):
    reader = await keyservice.api_key("usr_reader", scopes=("cifer:read",))
    for headers in ({}, {"Authorization": "Bearer sk_test_" + "x" * 56}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer not-a-key"}):
        _, body = await keyservice.call("GET", "/v1/cifers", headers=headers, expect=401)
        assert body["error"]["code"] == "UNAUTHORIZED"
    _, body = await keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=reader, expect=403)
    assert body["error"]["code"] == "FORBIDDEN"


async def test_other_owners_cifers_are_not_found(keyservice):
    alice = await keyservice.api_key("usr_alice")
    bob = await keyservice.api_key("usr_bob")
    _, created = await keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=alice, expect=201)
    cid = created["data"]["cifer_id"]
    await keyservice.call("GET", f"/v1/cifers/{cid}", headers=bob, expect=404)
    await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={}, headers=bob, expect=404)
    await keyservice.call("DELETE", f"/v1/cifers/{cid}", headers={**bob, "X-Confirm-Revocation": "true"}, expect=404)
