"""The operator killed (SIGKILL, as when its node dies) in the middle of work and started again:
what it left half done converges, and no request is done twice."""

from __future__ import annotations

import json
import time

from kube.tools import kubectl
from proxy.processes import Api

from .resources import API_VERSION, active, apply, sa_token, wait_for

KEYS = 20


async def cifers_of(admin: Api, namespace: str) -> list[dict]:
    found, cursor = [], None
    while True:
        _, page = await admin.call("GET", "/v1/cifers?limit=100" + (f"&cursor={cursor}" if cursor else ""), expect=200)
        found += [c for c in page["data"]["cifers"] if c["metadata"].get("cifer.io/namespace") == namespace]
        cursor = page["data"].get("next_cursor")
        if not page["data"].get("has_more"):
            return found


def phases(kube, namespace: str) -> list[str]:
    listed = kube.request("GET", f"/apis/cifer.io/v1alpha1/namespaces/{namespace}/ciferkeys")["items"]
    return [(item.get("status") or {}).get("phase", "") for item in listed]


async def test_twenty_creations_interrupted_by_sigkill_end_active_with_exactly_twenty_keys(
        kube, namespace, operator, keyservice, admin_key, http):
    items = [{"apiVersion": API_VERSION, "kind": "CiferKey", "metadata": {"name": f"batch-{i:02d}",
                                                                          "namespace": namespace}, "spec": {}}
             for i in range(KEYS)]
    kubectl(kube, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    deadline = time.monotonic() + 60
    while "Active" not in phases(kube, namespace):
        assert time.monotonic() < deadline, operator.log_tail()
        time.sleep(0.02)
    operator.kill()
    active_at_kill = phases(kube, namespace).count("Active")
    assert active_at_kill < KEYS, "the operator finished everything before it was killed: nothing was interrupted"

    operator.start()
    for item in items:
        wait_for(kube, namespace, item["metadata"]["name"], lambda s: s.get("phase") == "Active", operator)
    made = await cifers_of(Api(http, keyservice.url, admin_key), namespace)
    assert len(made) == KEYS, f"{len(made)} keys in the key service for {KEYS} CiferKeys"
    listed = kube.request("GET", f"/apis/cifer.io/v1alpha1/namespaces/{namespace}/ciferkeys")["items"]
    assert {c["cifer_id"] for c in made} == {item["status"]["ciferId"] for item in listed}


def test_a_key_service_outage_leaves_the_key_pending_and_degraded_until_it_returns(kube, namespace, operator, keyservice):
    keyservice.stop()
    try:
        apply(kube, namespace, "patient", {})
        status = wait_for(kube, namespace, "patient", lambda s: s.get("phase") == "Pending", operator)["status"]
        degraded = {c["type"]: c for c in status["conditions"]}["Degraded"]
        assert degraded["status"] == "True" and degraded["reason"] == "KeyServiceUnavailable"
        assert "CONNECTION_ERROR" in degraded["message"]
    finally:
        keyservice.start()
    status = wait_for(kube, namespace, "patient", active(1), operator)["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["Degraded"] == "False"


async def test_what_changed_while_the_operator_was_away_converges_when_it_returns(
        kube, namespace, operator, sidecar, http):
    apply(kube, namespace, "edited", {})
    cifer_id = wait_for(kube, namespace, "edited", active(1), operator)["status"]["ciferId"]
    operator.stop()  # uninstalled for a while: its webhook configuration goes with it
    try:
        access = {"serviceAccounts": [{"namespace": namespace, "name": "late-reader"}]}
        apply(kube, namespace, "edited", {"access": access}, annotations={"cifer.io/rotate": "while-away"})
        apply(kube, namespace, "born-while-away", {})
    finally:
        operator.start()
    status = wait_for(kube, namespace, "edited", lambda s: s.get("keyVersion") == 2 and s.get("observedGeneration") == 2
                      and s.get("phase") == "Active", operator)["status"]
    assert status["ciferId"] == cifer_id
    wait_for(kube, namespace, "born-while-away", active(1), operator)
    reader = Api(http, sidecar, sa_token(kube, namespace, "late-reader"))
    _, sealed = await reader.call("POST", "/v1/encrypt", expect=200, json={"cifer_id": cifer_id, "plaintext": "aGk="})
    await reader.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": sealed["data"]["ciphertext"]})


def test_a_renewed_webhook_certificate_stops_the_operator_so_it_is_started_with_the_new_one(
        kube, keyservice, tmp_path):
    from cifer_operator.certs import self_signed

    from .stack import OperatorProcess
    renewing = OperatorProcess(kube, keyservice.url, tmp_path / "renewing", "--certificate-check", "0.5",
                               "--priority", "1", "--peering-lifetime", "10",  # a standby: it never acts here
                               registers_webhook=False)
    renewing.start()
    try:
        self_signed(renewing.certfile.parent, ["127.0.0.1"])  # what cert-manager does to the mounted Secret
        renewing.proc.wait(timeout=30)
        assert "the webhook certificate changed" in renewing.log_tail()
    finally:
        renewing.stop()
