"""A pod's ServiceAccount token as a key-service credential, checked by TokenReview against
a real kube-apiserver (the `kube` fixture): audience `cifer` only, and only what policy grants."""

from __future__ import annotations

import dataclasses
import io
import secrets

import pytest

from cifer.envelope import encrypt
from cifer.keystore.config import FileKekSettings
from cifer_keyservice.app import create_app
from cifer_keyservice.settings import FixedWindow, KeyServiceSettings, RateLimits, TokenReviewSettings
from keyrelease_helpers import decap_body
from keyservice.service import KeyService
from keyservice.helpers import b64, header_of, new_cifer, recipient


@pytest.fixture
async def sa_keyservice(aiohttp_client, kube, tmp_path):
    return await start_with_token_review(aiohttp_client, kube, tmp_path)


async def start_with_token_review(aiohttp_client, kube, tmp_path, **overrides) -> KeyService:
    reviewer = f"cifer-keyservice-{secrets.token_hex(3)}"
    kube.create_service_account("default", reviewer)
    kube.create_cluster_role_binding(reviewer, cluster_role="system:auth-delegator", ns="default",
                                     service_account=reviewer)
    token_file = tmp_path / "reviewer-token"
    token_file.write_text(kube.create_token("default", reviewer))
    settings = KeyServiceSettings(
        database_url=f"sqlite:///{tmp_path / 'cifer.db'}", kek=FileKekSettings(tmp_path / "kek.key"),
        token_review=TokenReviewSettings(
            api_url=kube.url, reviewer_token_file=token_file, ca_file=kube.ca_file,
            insecure_skip_tls_verify=kube.ca_file is None and kube.insecure_skip_tls_verify,
        ),
        **overrides,
    )
    client = await aiohttp_client(create_app(settings, audit_stream=io.StringIO()))
    return KeyService(client, settings, io.StringIO())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_sidecar_token_for_cifer_decrypts_what_policy_grants_its_service_account(sa_keyservice, kube):
    workload = f"payments-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    principal = f"system:serviceaccount:default:{workload}"
    alice = await sa_keyservice.api_key("usr_alice")
    _, created = await sa_keyservice.call("POST", "/v1/cifers", headers=alice, expect=201,
                                          json={"name": "k", "policy": {"allowed_principals": [principal]}})
    cid = created["data"]["cifer_id"]
    envelope = encrypt(await recipient(sa_keyservice, cid), b"card number")
    token = kube.create_token("default", workload, audience="cifer")
    _, body = await sa_keyservice.call("POST", "/v1/decapsulate", headers=bearer(token), expect=200,
                                       json=decap_body([b64(header_of(envelope))]))
    assert body["data"]["results"][0]["success"] is True
    _, body = await sa_keyservice.call("GET", f"/v1/cifers/{cid}", headers=bearer(token), expect=200)
    assert body["data"]["owner_id"] == "usr_alice"


async def test_a_token_for_another_audience_is_refused(sa_keyservice, kube):
    workload = f"other-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    token = kube.create_token("default", workload, audience="vault")
    _, body = await sa_keyservice.call("GET", "/v1/cifers", headers=bearer(token), expect=401)
    assert body["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("audience", [None, "https://kubernetes.default.svc"], ids=["default", "api-server"])
async def test_a_token_meant_for_the_api_server_is_refused(sa_keyservice, kube, audience):
    # A pod's mounted token (the API server's audience) must not open keys: only a token
    # projected for `cifer` does, even for a ServiceAccount the policy names.
    workload = f"payments-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    alice = await sa_keyservice.api_key("usr_alice")
    _, created = await sa_keyservice.call("POST", "/v1/cifers", headers=alice, expect=201, json={
        "name": "k", "policy": {"allowed_principals": [f"system:serviceaccount:default:{workload}"]}})
    envelope = encrypt(await recipient(sa_keyservice, created["data"]["cifer_id"]), b"card number")
    token = kube.create_token("default", workload, audience=audience)
    _, body = await sa_keyservice.call("POST", "/v1/decapsulate", headers=bearer(token), expect=401,
                                       json=decap_body([b64(header_of(envelope))]))
    assert body["error"]["code"] == "UNAUTHORIZED"
    projected = kube.create_token("default", workload, audience="cifer")  # the same identity, projected for cifer
    _, body = await sa_keyservice.call("POST", "/v1/decapsulate", headers=bearer(projected), expect=200,
                                       json=decap_body([b64(header_of(envelope))]))
    assert body["data"]["results"][0]["success"] is True


async def test_a_service_account_the_policy_does_not_name_cannot_decrypt(sa_keyservice, kube):
    workload = f"intruder-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    alice = await sa_keyservice.api_key("usr_alice")
    _, created = await sa_keyservice.call("POST", "/v1/cifers", headers=alice, json={"name": "k"}, expect=201)
    envelope = encrypt(await recipient(sa_keyservice, created["data"]["cifer_id"]), b"x")
    token = kube.create_token("default", workload, audience="cifer")
    _, body = await sa_keyservice.call("POST", "/v1/decapsulate", headers=bearer(token), expect=403,
                                       json=decap_body([b64(header_of(envelope))]))
    assert body["error"]["code"] == "UNAUTHORIZED_DECRYPT"


async def test_a_service_account_cannot_create_keys(sa_keyservice, kube):
    workload = f"sidecar-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    token = kube.create_token("default", workload, audience="cifer")
    await sa_keyservice.call("POST", "/v1/cifers", headers=bearer(token), json={"name": "k"}, expect=403)


async def test_the_operators_service_account_is_an_admin_without_rate_limits(aiohttp_client, kube, tmp_path):
    operator, sidecar = f"cifer-operator-{secrets.token_hex(3)}", f"sidecar-{secrets.token_hex(3)}"
    for name in (operator, sidecar):
        kube.create_service_account("default", name)
    operator_principal = f"system:serviceaccount:default:{operator}"
    service = await start_with_token_review(
        aiohttp_client, kube, tmp_path, admin_principals=frozenset({operator_principal}),
        rate_limits=dataclasses.replace(RateLimits(), create=FixedWindow(2, 3600)))
    as_operator = bearer(kube.create_token("default", operator, audience="cifer"))
    as_sidecar = bearer(kube.create_token("default", sidecar, audience="cifer"))
    _, who = await service.call("GET", "/v1/whoami", headers=as_operator, expect=200)
    assert (who["data"]["principal"], who["data"]["kind"]) == (operator_principal, "serviceaccount")
    assert who["data"]["scopes"] == sorted({"admin", *service.settings.serviceaccount_scopes})
    _, who = await service.call("GET", "/v1/whoami", headers=as_sidecar, expect=200)
    assert "admin" not in who["data"]["scopes"]
    for n in range(3):  # past the create limit of 2
        _, created = await service.call("POST", "/v1/cifers", json={"name": f"k{n}"}, headers=as_operator, expect=201)
        assert created["data"]["owner_id"] == operator_principal
    alice = await service.api_key("usr_alice")
    cid = await new_cifer(service, alice)  # another owner's: an admin manages it all the same
    _, body = await service.call("PATCH", f"/v1/cifers/{cid}", json={"description": "managed"}, headers=as_operator,
                                 expect=200)
    assert (body["data"]["description"], body["data"]["owner_id"]) == ("managed", "usr_alice")
    await service.call("POST", "/v1/cifers", json={"name": "k"}, headers=as_sidecar, expect=403)
    _, body = await service.call("PATCH", f"/v1/cifers/{cid}", json={"name": "x"}, headers=as_sidecar, expect=403)
    assert body["error"]["details"] == {"required_scope": "cifer:create"}
