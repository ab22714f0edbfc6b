"""Usage that tells the truth (issue 15), from outside: a real key service and a real sidecar.
The sidecar's local encryptions and payload failures reach the cifer's statistics and the audit
log within seconds, and at shutdown; its report buffer is bounded and a retried report keeps its
id; the seed's encrypt limit is the sidecar's own, off unless asked for."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from cifer_proxy.encryptlimit import EncryptLimit
from cifer_proxy.usage import UsageReporter

from cifer.api import usage
from cifer.api.errors import ApiError, ErrorCode
from proxy.processes import Api, sidecar_process


async def eventually_statistics(api: Api, cifer_id: str, wanted: dict, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        _, body = await api.call("GET", f"/v1/cifers/{cifer_id}", expect=200)
        stats = body["data"]["statistics"]
        if {name: stats[name] for name in wanted} == wanted or time.monotonic() > deadline:
            assert {name: stats[name] for name in wanted} == wanted
            return stats
        await asyncio.sleep(0.1)


async def encrypt(api: Api, cifer_id: str, plaintext: bytes) -> str:
    _, body = await api.call("POST", "/v1/encrypt", json={
        "cifer_id": cifer_id, "plaintext": base64.b64encode(plaintext).decode()}, expect=200)
    return body["data"]["ciphertext"]


async def test_three_encrypts_two_decrypts_and_a_tampered_payload_are_counted_and_audited(http, key_service):
    alice_key = key_service.api_key("usr_alice")
    admin = Api(http, key_service.url, key_service.api_key("usr_admin", scopes=("admin",)))
    with sidecar_process(key_service.url, "--usage-report-interval", "0.2", env={"CIFER_API_KEY": alice_key}) as url:
        pod = Api(http, url, None)  # the application sends no credential: the sidecar lends the pod's
        cid = await pod.new_cifer()
        ciphertexts = [await encrypt(pod, cid, f"record {i}".encode() * 4) for i in range(3)]
        for ciphertext in ciphertexts[:2]:
            _, body = await pod.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext}, expect=200)
        tampered = bytearray(base64.b64decode(ciphertexts[2]))
        tampered[-1] ^= 1  # the payload's last tag: the header still opens
        _, body = await pod.call("POST", "/v1/decrypt", json={"ciphertext": base64.b64encode(tampered).decode()},
                                 expect=400)
        assert body["error"]["code"] == "INVALID_CIPHERTEXT"
        stats = await eventually_statistics(Api(http, key_service.url, alice_key), cid, {
            "total_encryptions": 3, "total_decryptions": 2, "failed_decryptions": 1})
        assert stats["last_used_at"] is not None
    _, body = await admin.call("GET", "/v1/audit", params={"cifer_id": cid, "limit": "100"}, expect=200)
    records = [(r["operation"], r["outcome"], r["principal"], r["details"].get("count"), r["details"].get("stage"))
               for r in body["data"]["audit_logs"]]
    assert ("encrypt", "success", "usr_alice", 3, None) in records
    assert records.count(("decrypt", "success", "usr_alice", None, None)) == 3  # three data keys were released
    assert ("decrypt", "failure", "usr_alice", 1, "payload") in records
    [encrypted] = [r for r in body["data"]["audit_logs"] if r["operation"] == "encrypt"]
    assert encrypted["details"]["bytes"] == sum(len(f"record {i}".encode() * 4) for i in range(3))
    assert set(encrypted["details"]["window"]) == {"start", "end"}


async def test_what_is_left_is_reported_when_the_sidecar_stops(http, key_service):
    alice_key = key_service.api_key("usr_alice")
    alice = Api(http, key_service.url, alice_key)
    cid = await alice.new_cifer()
    with sidecar_process(key_service.url, env={"CIFER_API_KEY": alice_key}) as url:  # reports every 5 s
        for _ in range(2):
            await encrypt(Api(http, url, None), cid, b"x")
        _, body = await alice.call("GET", f"/v1/cifers/{cid}", expect=200)
        assert body["data"]["statistics"]["total_encryptions"] == 0  # not yet: the 5 s have not passed
    _, body = await alice.call("GET", f"/v1/cifers/{cid}", expect=200)  # stopped (SIGINT): the last report went
    assert body["data"]["statistics"]["total_encryptions"] == 2


async def test_the_encrypt_limit_is_off_by_default_and_the_seeds_when_on(http, key_service):
    alice_key = key_service.api_key("usr_alice")
    cid = await Api(http, key_service.url, alice_key).new_cifer()
    with sidecar_process(key_service.url, env={"CIFER_API_KEY": alice_key}) as url:
        for _ in range(5):
            resp, _ = await Api(http, url, None).call("POST", "/v1/encrypt", json={"cifer_id": cid, "plaintext": ""},
                                                      expect=200)
            assert "X-RateLimit-Limit" not in resp.headers
    with sidecar_process(key_service.url, "--encrypt-limit-per-minute", "2", env={"CIFER_API_KEY": alice_key}) as url:
        pod, other = Api(http, url, None), Api(http, url, key_service.api_key("usr_bob"))
        for remaining in ("1", "0"):
            resp, _ = await pod.call("POST", "/v1/encrypt", json={"cifer_id": cid, "plaintext": ""}, expect=200)
            assert (resp.headers["X-RateLimit-Limit"], resp.headers["X-RateLimit-Remaining"]) == ("2", remaining)
            assert int(resp.headers["X-RateLimit-Reset"]) % 60 == 0
        resp, body = await pod.call("POST", "/v1/encrypt", json={"cifer_id": cid, "plaintext": ""}, expect=429)
        assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert body["error"]["details"]["limit"] == 2 and body["error"]["details"]["window"] == "1 minute"
        assert resp.headers["X-RateLimit-Remaining"] == "0" and 1 <= int(resp.headers["Retry-After"]) <= 60
        resp, _ = await other.call("POST", "/v1/encrypt", json={"cifer_id": cid, "plaintext": ""}, expect=200)
        assert resp.headers["X-RateLimit-Remaining"] == "1"  # per credential


def test_the_encrypt_limit_opens_again_with_the_next_minute():
    now = [1767225659.5]
    limit = EncryptLimit(1, clock=lambda: now[0])
    assert limit.take("Bearer a")["X-RateLimit-Reset"] == "1767225660"
    with pytest.raises(ApiError) as refused:
        limit.take("Bearer a")
    assert refused.value.code is ErrorCode.RATE_LIMIT_EXCEEDED and refused.value.headers["Retry-After"] == "1"
    now[0] += 1
    assert limit.take("Bearer a")["X-RateLimit-Remaining"] == "0"


class KeyServiceStandIn:
    """Records what is sent; fails while `down`."""

    def __init__(self) -> None:
        self.down: ErrorCode | None = None
        self.sent: list[tuple[str, dict]] = []

    async def __call__(self, credential: str, body: dict) -> None:
        self.sent.append((credential, body))
        if self.down is not None:
            raise ApiError(self.down)


async def test_tallies_are_bounded_while_the_key_service_is_away():
    service = KeyServiceStandIn()
    service.down = ErrorCode.SERVICE_UNAVAILABLE
    reporter = UsageReporter(service, interval_s=5, max_entries=10)
    cifers = [f"cif_{i:024d}" for i in range(50)]
    for cifer_id in cifers:
        reporter.encrypted("Bearer a", cifer_id, 10)
        assert reporter.held <= 10
    await reporter.flush()  # nothing gets through: the ten are kept for a retry
    for cifer_id in cifers:
        reporter.encrypted("Bearer b", cifer_id, 10)
    assert reporter.held == 10 and reporter.dropped == 90
    reporter.encrypted("Bearer a", cifers[0], 10)  # no room for a new tally, whatever the credential
    assert reporter.dropped == 91
    service.down = None
    await reporter.flush()
    assert reporter.held == 0
    sent = [entry["cifer_id"] for _, body in service.sent[-1:] for entry in body["entries"]]
    assert sent == cifers[:10]


async def test_a_retried_report_keeps_its_id_and_a_refused_one_is_dropped():
    service = KeyServiceStandIn()
    reporter = UsageReporter(service, interval_s=5, max_entries=100)
    service.down = ErrorCode.SERVICE_UNAVAILABLE
    reporter.encrypted("Bearer a", "cif_" + "a" * 24, 5)
    reporter.payload_failed("Bearer a", "cif_" + "a" * 24)
    await reporter.flush()
    service.down = None
    reporter.encrypted("Bearer a", "cif_" + "a" * 24, 7)  # after the first batch closed: a new report
    await reporter.flush()
    first, retried, second = (body for _, body in service.sent)
    assert first == retried and first["report_id"] != second["report_id"]
    assert first["entries"][0] | {"window": None} == {"cifer_id": "cif_" + "a" * 24, "encryptions": 1,
                                                       "encrypted_bytes": 5, "failed_decryptions": 1, "window": None}
    assert usage.parse(first) and usage.parse(second)  # what the key service parses
    service.down = ErrorCode.UNAUTHORIZED  # a credential revoked meanwhile: no retry can help
    reporter.encrypted("Bearer a", "cif_" + "a" * 24, 1)
    await reporter.flush()
    await reporter.flush()
    assert len(service.sent) == 4 and reporter.held == 0


async def test_reports_go_by_credential_and_at_most_the_formats_entries_each():
    service = KeyServiceStandIn()
    reporter = UsageReporter(service, interval_s=5, max_entries=5000)
    for i in range(usage.MAX_ENTRIES + 1):
        reporter.encrypted("Bearer a", f"cif_{i:024d}", 1)
    reporter.encrypted("Bearer b", f"cif_{0:024d}", 1)
    await reporter.flush()
    assert [(credential, len(body["entries"])) for credential, body in service.sent] == [
        ("Bearer a", usage.MAX_ENTRIES), ("Bearer a", 1), ("Bearer b", 1)]


async def test_the_timer_reports_within_its_interval_and_early_when_half_full():
    service = KeyServiceStandIn()
    reporter = UsageReporter(service, interval_s=0.05, max_entries=4)
    reporter.start()
    try:
        reporter.encrypted("Bearer a", "cif_" + "a" * 24, 1)
        await asyncio.sleep(0.3)
        assert len(service.sent) == 1
    finally:
        await reporter.close()
    slow = UsageReporter(service, interval_s=5, max_entries=4)
    slow.start()
    try:
        slow.encrypted("Bearer a", "cif_" + "b" * 24, 1)
        slow.encrypted("Bearer a", "cif_" + "c" * 24, 1)  # half of 4: report now, not in 5 s
        await asyncio.sleep(0.3)
        assert len(service.sent) == 2
    finally:
        await slow.close()


async def test_the_application_cannot_report_usage_through_the_sidecar(http, key_service):
    alice_key = key_service.api_key("usr_alice")
    with sidecar_process(key_service.url, env={"CIFER_API_KEY": alice_key}) as url:
        body = {"report_id": usage.new_report_id(), "entries": [
            {"cifer_id": "cif_" + "a" * 24, "encryptions": 1, "window": {"start": 1, "end": 1}}]}
        resp, _ = await Api(http, url, None).call("POST", "/v1/usage", json=body)
        assert resp.status in (404, 405)  # not in the sidecar's table: nothing lends the pod's identity to it
