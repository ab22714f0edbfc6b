"""/metrics: Prometheus text with the cifer_ metrics a platform team alerts on."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cifer.envelope import encrypt
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, new_cifer, recipient


async def scrape(keyservice) -> dict[tuple[str, tuple], float]:
    resp = await keyservice.client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_requests_decrypts_and_hsm_latency_are_exported(keyservice):
    alice = await keyservice.api_key("usr_alice")
    mallory = await keyservice.api_key("usr_mallory")
    cid = await new_cifer(keyservice, alice)
    header = b64(header_of(encrypt(await recipient(keyservice, cid), b"x")))
    await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header, header]), headers=alice, expect=200)
    await keyservice.call("POST", "/v1/decapsulate", json=decap_body([header]), headers=mallory, expect=403)
    await keyservice.call("GET", "/v1/cifers/cif_AAAAAAAAAAAAAAAAAAAAAAAA", headers=alice, expect=404)
    samples = await scrape(keyservice)
    assert samples[("cifer_decrypts_total", (("outcome", "success"),))] == 2
    assert samples[("cifer_decrypts_total", (("outcome", "denied"),))] == 1
    created = (("code", "201"), ("method", "POST"), ("route", "/v1/cifers"))
    assert samples[("cifer_http_requests_total", created)] == 1
    not_found = (("code", "404"), ("method", "GET"), ("route", "/v1/cifers/{cifer_id}"))
    assert samples[("cifer_http_requests_total", not_found)] == 1  # the route template, not the id
    assert samples[("cifer_hsm_operation_seconds_count", (("operation", "unwrap"),))] >= 2
    assert samples[("cifer_audit_write_failures_total", ())] == 0
