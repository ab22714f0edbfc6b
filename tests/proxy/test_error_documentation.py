"""Every error body points at its code's documentation (issue 15, defect 10; seed 000 §9.2's
`documentation_url`), on both servers, from outside: the key service and the sidecar as real
processes on loopback. Each code has its section in docs/errors.md, and the OpenAPI error schema
of each server requires the field."""

from __future__ import annotations

import re
from pathlib import Path

from keyrelease_helpers import decap_body

from cifer.api.errors import DOCUMENTATION_URL, ErrorCode
from proxy.processes import Api

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def assert_documented(body: dict, code: str) -> None:
    assert body["error"]["code"] == code
    assert body["error"]["documentation_url"] == f"https://docs.cifer.io/errors/{code}"


def test_every_code_has_its_section_and_its_url():
    sections = re.findall(r"^## ([A-Z_]+)$", DOCS.read_text(), flags=re.MULTILINE)
    assert {code.name for code in ErrorCode} <= set(sections)
    assert all(code.documentation_url == DOCUMENTATION_URL + code.name for code in ErrorCode)


async def test_the_key_services_error_bodies_name_their_documentation(http, key_service):
    alice = Api(http, key_service.url, key_service.api_key("usr_alice"))
    reader = Api(http, key_service.url, key_service.api_key("usr_carol", scopes=("cifer:read",)))
    stranger = Api(http, key_service.url, "sk_test_" + "x" * 56)
    _, body = await stranger.call("GET", "/v1/cifers", expect=401)
    assert_documented(body, "UNAUTHORIZED")
    _, body = await alice.call("GET", "/v1/cifers/cif_" + "0" * 24, expect=404)
    assert_documented(body, "NOT_FOUND")
    _, body = await alice.call("GET", "/v1/cifers/nope", expect=400)
    assert_documented(body, "INVALID_CIFER_ID")
    _, body = await alice.call("POST", "/v1/cifers", json={"name": 7}, expect=400)
    assert_documented(body, "INVALID_REQUEST")
    _, body = await alice.call("PUT", "/v1/cifers", json={}, expect=405)
    assert_documented(body, "METHOD_NOT_ALLOWED")
    _, body = await reader.call("POST", "/v1/cifers", json={"name": "x"}, expect=403)
    assert_documented(body, "FORBIDDEN")
    _, body = await alice.call("POST", "/v1/decapsulate", json=decap_body(["eA==", "eA=="]), expect=200)
    for result in body["data"]["results"]:  # each failed item of a batch carries the same object
        assert_documented(result, "INVALID_CIPHERTEXT")


async def test_the_sidecars_error_bodies_name_their_documentation(http, key_service, sidecar_url):
    alice = Api(http, sidecar_url, key_service.api_key("usr_alice"))
    _, body = await Api(http, sidecar_url, "sk_test_" + "x" * 56).call("GET", "/v1/cifers", expect=401)
    assert_documented(body, "UNAUTHORIZED")  # the key service's answer, passed through
    _, body = await alice.call("GET", "/v1/nowhere", expect=404)
    assert_documented(body, "NOT_FOUND")
    _, body = await alice.call("POST", "/v1/encrypt", json={"cifer_id": "nope", "plaintext": "aGk="}, expect=400)
    assert_documented(body, "INVALID_CIFER_ID")
    _, body = await alice.call("POST", "/v1/decrypt", json={"ciphertext": "eA=="}, expect=400)
    assert_documented(body, "INVALID_CIPHERTEXT")


async def test_both_openapi_documents_require_the_field(http, key_service, sidecar_url):
    for url in (key_service.url, sidecar_url):
        _, document = await Api(http, url, None).call("GET", "/v1/openapi.json", expect=200)
        schema = document["components"]["schemas"]["ErrorBody"]
        assert "documentation_url" in schema["required"], url
        assert re.fullmatch(schema["properties"]["documentation_url"]["pattern"], DOCUMENTATION_URL + "NOT_FOUND")
