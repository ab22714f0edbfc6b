"""/v1/openapi.json describes exactly the routes the key service serves."""

from __future__ import annotations

import re


def served_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        routes.add((route.method.lower(), route.resource.canonical))
    return routes


async def test_the_document_and_the_routes_agree(keyservice):
    resp = await keyservice.client.get("/v1/openapi.json")
    assert resp.status == 200
    document = await resp.json()
    assert document["openapi"] == "3.1.0"
    documented = {(method, path) for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert documented == served_routes(keyservice.client.server.app)


async def test_every_reference_resolves(keyservice):
    resp = await keyservice.client.get("/v1/openapi.json")
    document = await resp.json()
    text = await resp.text()
    for ref in set(re.findall(r'"\$ref": ?"#/([^"]+)"', text)):
        node = document
        for part in ref.split("/"):
            node = node[part]
