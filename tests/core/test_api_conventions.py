"""The response body, error rendering and request ids that every service shares."""

from __future__ import annotations

from aiohttp import web

from cifer.api import health
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.middleware import new_app
from cifer.exceptions import InvalidCiphertext, KeystoreUnavailable


def make_app(checks=None):
    app = new_app(max_body_bytes=1024)
    app[health.HEALTH_CHECKS] = checks or {}
    app.add_routes(health.routes)

    async def boom(request):
        raise RuntimeError("secret detail sk_test_should_not_leak")

    async def bad_ciphertext(request):
        raise InvalidCiphertext()

    async def api_error(request):
        raise ApiError(ErrorCode.INVALID_CIFER_ID, details={"cifer_id": "cif_x"})

    async def hsm_down(request):
        raise KeystoreUnavailable("wrong PIN for token 'x'")

    async def echo(request):
        return web.json_response({"n": len(await request.read())})

    app.router.add_get("/boom", boom)
    app.router.add_get("/ct", bad_ciphertext)
    app.router.add_get("/apierr", api_error)
    app.router.add_get("/hsm", hsm_down)
    app.router.add_post("/echo", echo)
    return app


async def test_health_is_the_seeds_success_envelope(aiohttp_client):
    client = await aiohttp_client(make_app({"keystore": _passing}))
    resp = await client.get("/v1/health")
    body = await resp.json()
    assert resp.status == 200
    assert body["success"] is True
    assert body["data"]["status"] == "healthy" and body["data"]["checks"] == {"keystore": "ok"}
    assert body["meta"]["request_id"].startswith("req_")
    assert body["meta"]["version"] == "1.0" and body["meta"]["timestamp"].endswith("Z")
    assert resp.headers["X-Request-ID"] == body["meta"]["request_id"]


async def _passing():
    return None


async def _failing():
    raise OSError("disk on fire")


async def test_a_failing_check_makes_health_503_without_its_reason(aiohttp_client):
    client = await aiohttp_client(make_app({"keystore": _failing}))
    resp = await client.get("/v1/health")
    body = await resp.json()
    assert resp.status == 503
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["details"] == {"checks": {"keystore": "failing"}}
    assert "disk" not in await resp.text()


async def test_a_well_formed_client_request_id_is_echoed(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/v1/health", headers={"X-Request-ID": "trace-42"})
    assert resp.headers["X-Request-ID"] == "trace-42"
    assert (await resp.json())["meta"]["request_id"] == "trace-42"


async def test_a_malformed_client_request_id_is_replaced(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/v1/health", headers={"X-Request-ID": "x" * 200})
    assert resp.headers["X-Request-ID"].startswith("req_")


async def test_unknown_path_is_not_found_in_the_error_envelope(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/v1/nope")
    body = await resp.json()
    assert resp.status == 404
    assert body == {
        "success": False, "error": {"code": "NOT_FOUND", "message": "Resource not found", "details": {},
                                    "documentation_url": "https://docs.cifer.io/errors/NOT_FOUND"},
        "meta": {"request_id": resp.headers["X-Request-ID"], "timestamp": body["meta"]["timestamp"]},
    }


async def test_wrong_method_is_405_with_allow(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.delete("/v1/health")
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert (await resp.json())["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_an_unexpected_exception_is_a_500_without_its_text(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/boom")
    text = await resp.text()
    assert resp.status == 500
    assert (await resp.json())["error"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in text and "Traceback" not in text


async def test_invalid_ciphertext_is_400_invalid_ciphertext(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/ct")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "INVALID_CIPHERTEXT"


async def test_api_error_carries_code_status_and_details(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/apierr")
    body = await resp.json()
    assert resp.status == 400
    assert body["error"] == {"code": "INVALID_CIFER_ID", "message": "Invalid CIFER ID format", "details": {"cifer_id": "cif_x"},
                             "documentation_url": "https://docs.cifer.io/errors/INVALID_CIFER_ID"}


async def test_an_hsm_outage_is_503_and_names_no_pin(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.get("/hsm")
    assert resp.status == 503
    assert "PIN" not in await resp.text()


async def test_a_body_over_the_limit_is_413_in_the_error_envelope(aiohttp_client):
    client = await aiohttp_client(make_app())
    resp = await client.post("/echo", data=b"x" * 2048)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_every_seed_error_code_is_in_the_table():
    seed = {
        "INVALID_REQUEST": 400, "INVALID_CIFER_ID": 400, "INVALID_CIPHERTEXT": 400, "UNAUTHORIZED": 401,
        "FORBIDDEN": 403, "UNAUTHORIZED_DECRYPT": 403, "NOT_FOUND": 404, "CIFER_REVOKED": 410,
        "RATE_LIMIT_EXCEEDED": 429, "INTERNAL_ERROR": 500, "SERVICE_UNAVAILABLE": 503,
    }
    assert {name: ErrorCode[name].status for name in seed} == seed
