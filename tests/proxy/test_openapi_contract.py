"""Acceptance: the sidecar keeps the promises of its own /v1/openapi.json.

`schemathesis run` loads the document from a running `cifer proxy` (in front of `cifer
keyservice serve`, real processes on loopback, a throwaway database) and sends valid and
invalid requests to every operation in it: boundary values, random ones, then sequences along
the links it infers (create, then read, rotate, revoke). Every answer must be documented for its
operation, match its schema and content type, and never be a 5xx; invalid data must be refused,
valid data accepted, a missing credential refused. contract_hooks.py mixes a real cifer,
ciphertext and webhook into the requests, and the test fails if some operation never accepted one.

The run is its own process, as in CI: schemathesis' pytest loader for a schema that only
exists once a fixture has run (`schemathesis.pytest.from_fixture`) does not work with pytest 9.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from cifer.api.endpoints import ENDPOINTS, SIDECAR, Sidecar
from cifer.api.openapi import document
from cifer_proxy.app import create_app
from cifer.settings.sidecar import SidecarSettings
from proxy.processes import ALL_SCOPES, keyservice_process, sidecar_process

SIDECAR_DOCUMENT = document(SIDECAR)
EXAMPLES_PER_OPERATION = 40
RUN_TIMEOUT_S = 600
# One seed, so that a run on a commit here generates what CI's run on it does: a random one let CI
# find what the run here had not (and fail a landing on it). CIFER_CONTRACT_SEED=random searches on.
SEED = os.environ.get("CIFER_CONTRACT_SEED", "20261205")
HOOKS = Path(__file__).with_name("contract_hooks.py")
# Quotas have their own tests (test_errors.py); here they would only turn answers into 429s.
GENEROUS_LIMITS = tuple(arg for category in ("create", "encrypt", "decrypt", "get", "rotate")
                        for arg in ("--rate-limit", f"{category}=1000000/60"))
REVOCATION_TARGETS = 8
# POST /v1/infer needs an inference service with TenSEAL behind the sidecar, which this stack
# does not run (every well-formed call would be its documented 503); tests/inference/
# test_sidecar_infer.py covers it against a real one.
NEEDS_FHE_BACKEND = "infer"
# OAuth 2.0's endpoints answer in OAuth's own formats (pages, redirects, RFC 6749's errors), and what
# they accept is decided by a registered client, a user's password and the browser's cookies, none of
# which a generated request holds; tests/keyservice/test_oauth*.py and tests/browser/ cover them.
OAUTH = tuple(e.operation["operationId"] for e in ENDPOINTS if e.sidecar is Sidecar.FORWARD_OAUTH)
# POST /v1/shutdown would end the sidecar under test (and is refused to a request that carries a
# credential, as every generated one does); tests/proxy/test_shutdown.py covers it.
STOPS_THE_SIDECAR = "shutdownSidecar"
LEFT_OUT = (NEEDS_FHE_BACKEND, STOPS_THE_SIDECAR, *OAUTH)
CONFIG = """
[checks.positive_data_acceptance]
# Schemathesis' defaults and 410: it answers a well-formed request about a revoked cifer, as 404
# does one about a missing cifer; the resource's state decides it, not the request's shape.
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx"]

[[operations]]
include-operation-id = ["decryptData", "securityDecrypt", "securityEncrypt", "securityRevokeKey"]
# And 400, where the request's shape cannot decide it: no schema tells an envelope (decryptData's
# ciphertext, securityDecrypt's encryptedData.value) from random bytes, and contract_hooks.py checks
# that decryptData's refusal is INVALID_CIPHERTEXT and nothing else; securityEncrypt's `fields` may
# name members its data lacks; securityRevokeKey's confirmationCode may name a version no longer
# current (the key's state).
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "410", "429", "5xx"]

[[operations]]
include-operation-id = ["securityQueryAudit", "securityKeyUsage", "securityGenerateReport"]
# And 400, where no schema can say it: a period must end after it starts (a report's within ten years).
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "410", "429", "5xx"]
[[operations]]
include-operation-id = "getCifer"
# DELETE /v1/cifers/{id} revokes, it does not delete: the cifer stays readable, `status: revoked`
# (seed §4.2, §4.6), where this check expects a 404.
checks.use_after_free.enabled = false
"""


def seed(url: str, key: str, stranger: str) -> dict:
    """What contract_hooks.py mixes into the generated requests."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {key}"

    def data(method: str, path: str, **kwargs) -> dict:
        resp = http.request(method, url + path, timeout=30, **kwargs)
        assert resp.ok, resp.text
        return resp.json()["data"]

    def an_alert(ciphertext: str) -> str:
        """A stranger refused five times raises an alert (repeated failures) for resolution to resolve."""
        for _ in range(5):
            refused = requests.post(url + "/v1/decrypt", json={"ciphertext": ciphertext}, timeout=30,
                                    headers={"Authorization": f"Bearer {stranger}"})
            assert refused.status_code == 403, refused.text
        [alert] = data("GET", "/api/security/alerts")["alerts"]
        return alert["id"]

    def a_report() -> dict:
        found = urllib.parse.urlsplit(data("POST", "/api/security/reports/generate", json={
            "reportType": "encryption_summary", "period": {"start": "2026-01-01", "end": "2036-01-01"},
            "format": "csv"})["downloadUrl"])
        return {"report_id": found.path.split("/")[-2], **dict(urllib.parse.parse_qsl(found.query))}

    cifer_id = data("POST", "/v1/cifers", json={"name": "contract"})["cifer_id"]
    ciphertext = data("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": "aGk="})["ciphertext"]
    user = "user_contract"
    key = {"userId": user, "keyType": "health-data", "algorithm": "AES-256-GCM", "keyUsage": "both"}
    key_id = data("POST", "/api/security/keys/generate", json=key)["keyId"]
    return {
        "user_id": user, "key_id": key_id,
        "rotating_key": data("POST", "/api/security/keys/generate", json={**key, "userId": "user_rotating"})["keyId"],
        "encrypted_data": data("POST", "/api/security/encrypt", json={
            "data": {"heartRate": 72}, "dataType": "health", "userId": user})["encryptedData"],
        "doomed_keys": [data("POST", "/api/security/keys/generate", json={**key, "userId": f"user_doomed_{n}"})["keyId"]
                        for n in range(REVOCATION_TARGETS)],
        "cifer_id": cifer_id,
        "doomed": [data("POST", "/v1/cifers", json={"name": f"doomed-{n}"})["cifer_id"]
                   for n in range(REVOCATION_TARGETS)],
        "updatable": data("POST", "/v1/cifers", json={"name": "updatable"})["cifer_id"],
        "ciphertext": ciphertext, "alert_id": an_alert(ciphertext), "report": a_report(),
        "webhook_id": data("POST", "/v1/webhooks", json={
            "url": "https://hooks.example.com/cifer", "events": ["cifer.rotated"], "secret": "s" * 32})["id"],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """(sidecar URL, an API key with every scope, `admin` too: the audit query needs it, and a
    stranger's key, which may decrypt but holds no key)."""
    with keyservice_process(tmp_path_factory.mktemp("keyservice"), *GENEROUS_LIMITS) as service:
        key = service.api_key("usr_contract", scopes=(*ALL_SCOPES, "admin"))
        stranger = service.api_key("usr_stranger", scopes=ALL_SCOPES)
        with sidecar_process(service.url) as url:
            yield url, key, stranger


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")}


def test_every_answer_keeps_the_documents_promises(stack, tmp_path):
    url, key, stranger = stack
    (tmp_path / "known.json").write_text(json.dumps(seed(url, key, stranger)))
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    report = tmp_path / "report.json"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(tmp_path / "schemathesis.toml"), "--no-color",
         "run", f"{url}/v1/openapi.json", "--header", f"Authorization: Bearer {key}",
         "--max-examples", str(EXAMPLES_PER_OPERATION), *(["--seed", SEED] if SEED != "random" else []), "--report", "json", "--report-json-path", str(report),
         # Schemathesis leaves out the operation that served the document unless a filter names it.
         "--include-path-regex", "^/", *(arg for op in LEFT_OUT for arg in ("--exclude-operation-id", op))],
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "CIFER_CONTRACT_KNOWN": str(tmp_path / "known.json")},
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path)
    print(f"schemathesis ran for {time.monotonic() - started:.0f} s")
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(report.read_text())
    everything = len(documented_operations(SIDECAR_DOCUMENT))
    selected = everything - len(LEFT_OUT)
    assert summary["operations"] == {"total": everything, "selected": selected, "tested": selected,
                                     "errored": 0, "skipped": 0, "skip_reasons": []}
    never_accepted = {operation for operation, phases in summary["valid_rates"].items()
                      if not any(rates["accepted"] for rates in phases.values())}
    assert not never_accepted, f"no valid request reached these: {never_accepted}"


def test_the_served_document_is_the_applications(stack):
    url, _, _ = stack
    assert requests.get(f"{url}/v1/openapi.json", timeout=30).json() == SIDECAR_DOCUMENT


def test_the_document_and_the_routes_agree():
    app = create_app(SidecarSettings(keyservice_url="http://127.0.0.1:1"))
    served = {(route.method.lower(), route.resource.canonical) for route in app.router.routes()
              if route.method not in ("HEAD", "OPTIONS")}
    assert documented_operations(SIDECAR_DOCUMENT) == served
