"""What the kubelet and a pod's start see of the sidecar: a probes' listener that answers health
and nothing else, and public keys fetched before the first request (`--warm`)."""

from __future__ import annotations


from ports import free_port
from proxy.processes import Api, sidecar_process, stop


async def test_the_probe_port_answers_health_only_and_stays_up_when_the_key_service_is_down(key_service, http):
    probe_port = free_port()
    with sidecar_process(key_service.url, "--health-port", str(probe_port)) as url:
        probe = Api(http, f"http://127.0.0.1:{probe_port}", None)
        _, answer = await probe.call("GET", "/v1/health", expect=200)
        assert answer["data"]["status"] == "healthy"
        for method, path in (("POST", "/v1/encrypt"), ("POST", "/v1/decrypt"), ("GET", "/v1/cifers"),
                             ("GET", "/metrics")):
            resp, _ = await probe.call(method, path)
            assert resp.status in (404, 405), (method, path, resp.status)
        stop(key_service.proc)
        resp, _ = await Api(http, url, None).call("GET", "/v1/health")
        assert resp.status == 503  # the API's own health reports the key service
        await probe.call("GET", "/v1/health", expect=200)  # the probe does not restart the pod for it


async def test_warm_keys_are_fetched_before_the_first_request(key_service, http):
    alice = Api(http, key_service.url, key_service.api_key("usr_alice"))
    cifer_id = await alice.new_cifer()
    with sidecar_process(key_service.url, "--warm", cifer_id, "--warm", "cif_NoSuchKeyAtAll00000000") as url:
        async with http.get(f"{url}/metrics") as resp:
            metrics = await resp.text()
    misses = [line for line in metrics.splitlines() if line.startswith('cifer_public_key_cache_lookups_total{result="miss"}')]
    assert misses and float(misses[0].split()[-1]) == 2.0  # both asked for at start; the unknown one did not stop it


