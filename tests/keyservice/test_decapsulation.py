"""Decapsulation and rewrap over HTTP: only the owner and the principals a policy names get
data keys; every item is answered on its own; nothing but headers goes in."""

from __future__ import annotations

import base64
import json
import os

import pytest

from cifer.envelope import decrypt, encrypt
from cifer.keyrelease import X25519, InvalidKeyRelease, RecipientKey
from keyrelease_helpers import data_key_of, decap_body
from keyservice.helpers import b64, header_of, new_cifer, opener_from, recipient

K = 4


async def test_the_authorization_matrix_is_the_diagonal_plus_what_policy_grants(keyservice):
    owners = [f"usr_p{i}" for i in range(K)]
    creds = [await keyservice.api_key(owner) for owner in owners]
    # key j is owned by principal j; key 0's policy also lets principal 1 decrypt
    cifers = [await new_cifer(keyservice, creds[0], policy={"allowed_principals": [owners[1]]})]
    cifers += [await new_cifer(keyservice, creds[j]) for j in range(1, K)]
    envelopes = [encrypt(await recipient(keyservice, cid), f"secret {j}".encode()) for j, cid in enumerate(cifers)]
    batch = decap_body([b64(header_of(e)) for e in envelopes])
    granted = {(i, i) for i in range(K)} | {(1, 0)}
    for i in range(K):
        _, body = await keyservice.call("POST", "/v1/decapsulate", json=batch, headers=creds[i], expect=200)
        for j, result in enumerate(body["data"]["results"]):
            assert result["index"] == j
            if (i, j) in granted:
                assert result["success"] is True, (i, j, result)
                key = data_key_of(result, batch["headers"][j])
                assert decrypt(envelopes[j], lambda header: key) == f"secret {j}".encode()
            else:
                assert result["success"] is False and result["error"]["code"] == "UNAUTHORIZED_DECRYPT", (i, j)
                assert result["error"]["details"]["cifer_id"] == cifers[j]
                assert "sealed_data_key" not in result


async def test_a_single_refused_header_is_the_responses_own_403(keyservice):
    alice, mallory = await keyservice.api_key("usr_alice"), await keyservice.api_key("usr_mallory")
    cid = await new_cifer(keyservice, alice)
    envelope = encrypt(await recipient(keyservice, cid), b"x")
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(envelope))]),
                                    headers=mallory, expect=403)
    assert body["error"]["code"] == "UNAUTHORIZED_DECRYPT"
    assert body["error"]["details"] == {"cifer_id": cid, "required_permission": "owner"}


async def test_admin_scope_does_not_decrypt_others_data(keyservice):
    alice = await keyservice.api_key("usr_alice")
    admin = await keyservice.api_key("usr_admin", scopes=("admin",))
    cid = await new_cifer(keyservice, alice)
    envelope = encrypt(await recipient(keyservice, cid), b"x")
    await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(envelope))]),
                          headers=admin, expect=403)


async def test_a_policy_without_decrypt_refuses_even_the_owner(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice, policy={"allowed_operations": ["encrypt"]})
    envelope = encrypt(await recipient(keyservice, cid), b"x")
    await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(envelope))]),
                          headers=alice, expect=403)


async def test_each_bad_header_in_a_batch_fails_alone(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    good = header_of(encrypt(await recipient(keyservice, cid), b"x"))
    flipped = bytearray(good)
    flipped[-1] ^= 1
    revoked_cid = await new_cifer(keyservice, alice)
    revoked = header_of(encrypt(await recipient(keyservice, revoked_cid), b"x"))
    await keyservice.call("DELETE", f"/v1/cifers/{revoked_cid}", headers={**alice, "X-Confirm-Revocation": "true"},
                          expect=200)
    headers = [b64(good), "not base64!", b64(good[:-1]), b64(bytes(flipped)), b64(revoked), b64(good + b"x")]
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body(headers), headers=alice, expect=200)
    codes = [r["error"]["code"] if not r["success"] else "ok" for r in body["data"]["results"]]
    assert codes == ["ok", "INVALID_CIPHERTEXT", "INVALID_CIPHERTEXT", "INVALID_CIPHERTEXT", "CIFER_REVOKED",
                     "INVALID_CIPHERTEXT"]
    _, stats = await keyservice.call("GET", f"/v1/cifers/{cid}", headers=alice, expect=200)
    assert stats["data"]["statistics"]["total_decryptions"] == 1
    assert stats["data"]["statistics"]["failed_decryptions"] == 1  # the flipped one named this cifer


async def test_batch_bounds_and_body_shape(keyservice):
    alice = await keyservice.api_key("usr_alice")
    for body in ({}, decap_body([]), decap_body("x"), decap_body(["x"] * 257), {**decap_body(["x"]), "extra": 1}):
        _, answer = await keyservice.call("POST", "/v1/decapsulate", json=body, headers=alice, expect=400)
        assert answer["error"]["code"] == "INVALID_REQUEST" and answer["error"]["details"]["field"] == "headers"


async def test_decapsulation_needs_the_decrypt_scope(keyservice):
    reader = await keyservice.api_key("usr_alice", scopes=("cifer:read",))
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body(["eA=="]), headers=reader, expect=403)
    assert body["error"]["code"] == "FORBIDDEN"


async def test_after_rotation_old_headers_decrypt_until_the_deadline_and_rewrap_to_the_new_version(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    plaintext = os.urandom(100_000)
    old = encrypt(await recipient(keyservice, cid), plaintext)
    await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={"re_encryption_window_days": 30},
                          headers=alice, expect=200)
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(old))]),
                                    headers=alice, expect=200)
    assert body["data"]["results"][0]["key_version"] == 1
    _, rewrapped = await keyservice.call("POST", "/v1/rewrap", json={"header": b64(header_of(old))},
                                         headers=alice, expect=200)
    assert (rewrapped["data"]["key_version"], rewrapped["data"]["previous_key_version"]) == (2, 1)
    new = base64.b64decode(rewrapped["data"]["header"]) + old[len(header_of(old)):]
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(new))]),
                                    headers=alice, expect=200)
    result = body["data"]["results"][0]
    assert result["key_version"] == 2
    assert decrypt(new, opener_from([result])) == plaintext


async def test_a_version_past_its_deadline_no_longer_decrypts(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    old = encrypt(await recipient(keyservice, cid), b"x")
    await keyservice.call("POST", f"/v1/cifers/{cid}/rotate", json={"re_encryption_window_days": 0},
                          headers=alice, expect=200)
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(old))]),
                                    headers=alice, expect=400)
    assert body["error"]["code"] == "INVALID_CIPHERTEXT" and "retired" in body["error"]["message"]


async def test_metadata_comes_back_with_the_data_key(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    envelope = encrypt(await recipient(keyservice, cid), b"x", metadata={"filename": "secret.bin"})
    _, body = await keyservice.call("POST", "/v1/decapsulate", json=decap_body([b64(header_of(envelope))]),
                                    headers=alice, expect=200)
    assert body["data"]["results"][0]["metadata"] == {"filename": "secret.bin"}


async def test_a_missing_or_bad_recipient_is_a_400_naming_the_field(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    good = decap_body([header])["recipient"]
    for bad, field in ((None, "recipient"), ({"suite": "rsa", "public_key": good["public_key"]}, "recipient.suite"),
                       ({**good, "public_key": "AAAA"}, "recipient.public_key")):
        body = {"headers": [header]} if bad is None else {"headers": [header], "recipient": bad}
        _, answer = await keyservice.call("POST", "/v1/decapsulate", json=body, headers=alice, expect=400)
        assert answer["error"]["code"] == "INVALID_REQUEST" and answer["error"]["details"]["field"] == field


async def test_the_answer_holds_no_data_key_in_clear_and_opens_for_its_recipient_only(keyservice):
    alice = await keyservice.api_key("usr_alice")
    cid = await new_cifer(keyservice, alice)
    envelopes = [encrypt(await recipient(keyservice, cid), f"secret {i}".encode()) for i in range(3)]
    headers = [b64(header_of(e)) for e in envelopes]
    resp = await keyservice.client.post("/v1/decapsulate", json=decap_body(headers), headers=alice)
    raw = await resp.read()
    assert resp.status == 200, raw
    results = json.loads(raw)["data"]["results"]
    other = RecipientKey.generate(X25519, now=0.0)
    for envelope, header, result in zip(envelopes, headers, results):
        key = data_key_of(result, header)
        assert decrypt(envelope, lambda _: key) is not None
        for spelling in (key, base64.b64encode(key), key.hex().encode(), key.hex().upper().encode(),
                         base64.urlsafe_b64encode(key).rstrip(b"=")):
            assert spelling not in raw
        with pytest.raises(InvalidKeyRelease):
            other.open(result["sealed_data_key"], base64.b64decode(header))
    with pytest.raises(InvalidKeyRelease):  # nor for another header of the same answer
        data_key_of(results[0], headers[1])
