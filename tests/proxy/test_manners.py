"""The sidecar's manners, from outside: whose identity a call carries, what needs no
credential, idempotent passthrough, and the metrics it exports."""

from __future__ import annotations

from cifer_proxy.identity import Identity
from proxy.processes import Api, sidecar_process


async def test_a_caller_without_credentials_acts_as_the_pod_when_the_sidecar_has_an_identity(http, key_service):
    pod_key = key_service.api_key("usr_pod")
    with sidecar_process(key_service.url, env={"CIFER_API_KEY": pod_key}) as url:
        pod = Api(http, url, None)  # the app sends no Authorization: the sidecar lends the pod's key
        cifer_id = await pod.new_cifer()
        _, sealed = await pod.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "aGk="})
        _, opened = await pod.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": sealed["data"]["ciphertext"]})
        assert opened["data"]["plaintext"] == "aGk="
        _, me = await pod.call("GET", "/v1/whoami", expect=200)
        assert me["data"]["principal"] == "usr_pod"
        other = Api(http, url, key_service.api_key("usr_other"))  # a caller's own header wins
        _, me = await other.call("GET", "/v1/whoami", expect=200)
        assert me["data"]["principal"] == "usr_other"
        resp, body = await other.call("POST", "/v1/decrypt", json={"ciphertext": sealed["data"]["ciphertext"]})
        assert resp.status == 403 and body["error"]["code"] == "UNAUTHORIZED_DECRYPT"


def test_the_pod_identity_is_lent_only_on_loopback(tmp_path):
    token = tmp_path / "token"
    token.write_text("a-projected-token\n")
    for host in ("127.0.0.1", "::1", "localhost"):
        assert Identity(host=host, api_key=None, token_file=token)._own() == "Bearer a-projected-token"
    for host in ("0.0.0.0", "10.1.2.3", "::", "cifer.example"):
        assert Identity(host=host, api_key="sk_test_" + "a" * 56, token_file=token)._own() is None
    token.write_text("rotated-by-the-kubelet")  # reread on every use
    assert Identity(host="127.0.0.1", api_key=None, token_file=token)._own() == "Bearer rotated-by-the-kubelet"


async def test_only_health_public_keys_metrics_and_openapi_need_no_credential(alice, sidecar_url, http):
    cifer_id = await alice.new_cifer()
    anonymous = Api(http, sidecar_url, None)
    for path in ("/v1/health", f"/v1/keys/{cifer_id}", "/metrics", "/v1/openapi.json"):
        resp, _ = await anonymous.call("GET", path)
        assert resp.status == 200, path
    for method, path, body in (("POST", "/v1/encrypt", {"cifer_id": cifer_id, "plaintext": "aGk="}),
                               ("POST", "/v1/decrypt", {"ciphertext": "Q0lGUgABAA=="}),
                               ("GET", "/v1/cifers", None), ("POST", "/v1/cifers", {"name": "x"}),
                               ("GET", f"/v1/cifers/{cifer_id}", None), ("GET", "/v1/audit", None),
                               ("GET", "/v1/webhooks", None), ("GET", "/v1/whoami", None)):
        resp, answer = await anonymous.call(method, path, json=body)
        assert resp.status == 401 and answer["error"]["code"] == "UNAUTHORIZED", (method, path)


async def test_a_repeated_idempotency_key_replays_the_first_answer(alice):
    headers = {"X-Idempotency-Key": "create-once-42"}
    _, first = await alice.call("POST", "/v1/cifers", expect=201, json={"name": "once"}, headers=headers)
    _, again = await alice.call("POST", "/v1/cifers", expect=201, json={"name": "once"}, headers=headers)
    assert again["data"]["cifer_id"] == first["data"]["cifer_id"]
    _, page = await alice.call("GET", "/v1/cifers", expect=200)
    assert [c["name"] for c in page["data"]["cifers"]].count("once") == 1


async def test_metrics_count_requests_bytes_and_public_key_cache_hits(alice):
    cifer_id = await alice.new_cifer()
    for _ in range(3):
        await alice.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "aGVsbG8="})
    _, text = await alice.call("GET", "/metrics", expect=200)
    samples = dict(line.rsplit(" ", 1) for line in text.decode().splitlines() if line and not line.startswith("#"))
    assert float(samples["cifer_bytes_encrypted_total"]) == 15
    assert float(samples['cifer_public_key_cache_lookups_total{result="miss"}']) == 1
    assert float(samples['cifer_public_key_cache_lookups_total{result="hit"}']) == 2
    assert float(samples['cifer_http_requests_total{code="200",method="POST",route="/v1/encrypt"}']) == 3
    assert any(name.startswith("cifer_http_request_duration_seconds_bucket") for name in samples)
