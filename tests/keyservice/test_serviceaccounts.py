"""A pod's ServiceAccount token as a key-service credential, checked by TokenReview against
a real kube-apiserver (the `kube` fixture): audience `cifer` only, and only what policy grants."""

from __future__ import annotations

import io
import secrets

import pytest

from cifer.envelope import encrypt
from cifer.keystore.config import FileKekSettings
from cifer_keyservice.app import create_app
from cifer_keyservice.settings import KeyServiceSettings, TokenReviewSettings
from keyservice.service import KeyService
from keyservice.helpers import b64, header_of, recipient


@pytest.fixture
async def sa_keyservice(aiohttp_client, kube, tmp_path):
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
                                       json={"headers": [b64(header_of(envelope))]})
    assert body["data"]["results"][0]["success"] is True
    _, body = await sa_keyservice.call("GET", f"/v1/cifers/{cid}", headers=bearer(token), expect=200)
    assert body["data"]["owner_id"] == "usr_alice"


async def test_a_token_for_another_audience_is_refused(sa_keyservice, kube):
    workload = f"other-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    token = kube.create_token("default", workload, audience="vault")
    _, body = await sa_keyservice.call("GET", "/v1/cifers", headers=bearer(token), expect=401)
    assert body["error"]["code"] == "UNAUTHORIZED"


async def test_a_service_account_the_policy_does_not_name_cannot_decrypt(sa_keyservice, kube):
    workload = f"intruder-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    alice = await sa_keyservice.api_key("usr_alice")
    _, created = await sa_keyservice.call("POST", "/v1/cifers", headers=alice, json={"name": "k"}, expect=201)
    envelope = encrypt(await recipient(sa_keyservice, created["data"]["cifer_id"]), b"x")
    token = kube.create_token("default", workload, audience="cifer")
    _, body = await sa_keyservice.call("POST", "/v1/decapsulate", headers=bearer(token), expect=403,
                                       json={"headers": [b64(header_of(envelope))]})
    assert body["error"]["code"] == "UNAUTHORIZED_DECRYPT"


async def test_a_service_account_cannot_create_keys(sa_keyservice, kube):
    workload = f"sidecar-{secrets.token_hex(3)}"
    kube.create_service_account("default", workload)
    token = kube.create_token("default", workload, audience="cifer")
    await sa_keyservice.call("POST", "/v1/cifers", headers=bearer(token), json={"name": "k"}, expect=403)
