"""The endpoint table and the applications agree: every route an application serves is declared,
and every declared endpoint is served, by the key service and by the sidecar. Their OpenAPI
documents are generated from the table (the schemathesis runs check the documents' promises)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aiohttp import web

from cifer.api import endpoints
from cifer.api.endpoints import ENDPOINTS, KEYSERVICE, SIDECAR, Sidecar
from cifer.api.openapi import document
from cifer.keystore.config import FileKekSettings
from cifer_keyservice.app import create_app as keyservice_app
from cifer_keyservice.settings import KeyServiceSettings, RateLimits
from cifer_proxy.app import create_app as sidecar_app
from cifer.settings.sidecar import SidecarSettings

SCOPES = {"cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt", "admin"}


def served(app: web.Application) -> set[tuple[str, str]]:
    """(method, canonical path) of the application's routes; HEAD and OPTIONS are the server's own."""
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.method not in ("HEAD", "OPTIONS")}


def declared(server: str) -> set[tuple[str, str]]:
    return {endpoint.key for endpoint in endpoints.served_by(server)}


def test_the_key_services_routes_are_the_tables(tmp_path: Path):
    app = keyservice_app(KeyServiceSettings(database_url=f"sqlite:///{tmp_path}/db", kek=FileKekSettings(tmp_path / "k")))
    assert served(app) == declared(KEYSERVICE)


def test_the_sidecars_routes_are_the_tables():
    assert served(sidecar_app(SidecarSettings(keyservice_url="http://127.0.0.1:1"))) == declared(SIDECAR)


def test_an_endpoint_is_declared_once():
    keys = [endpoint.key for endpoint in ENDPOINTS]
    operation_ids = [endpoint.operation["operationId"] for endpoint in ENDPOINTS]
    assert len(set(keys)) == len(keys) and len(set(operation_ids)) == len(operation_ids)


def test_every_declaration_is_coherent():
    categories = {field.name for field in dataclasses.fields(RateLimits) if field.name != "redis_key_prefix"}
    for endpoint in ENDPOINTS:
        assert endpoint.scope is None or endpoint.scope in SCOPES, endpoint.key
        assert endpoint.rate_category is None or endpoint.rate_category in categories, endpoint.key
        assert not (endpoint.public and endpoint.scope), endpoint.key  # a public route cannot ask for a scope
        assert endpoint.keyservice or endpoint.sidecar is Sidecar.LOCAL, endpoint.key  # forwarded: to whom?
        assert (endpoint.operation.get("security") == []) == endpoint.public, endpoint.key


def test_what_holds_data_keys_is_never_replayed_nor_served_by_the_sidecar():
    for endpoint in (endpoints.DECAPSULATE, endpoints.REWRAP):
        assert not endpoint.keeps_replays and endpoint.sidecar is Sidecar.NONE


def test_the_documents_describe_exactly_the_table():
    for server in (KEYSERVICE, SIDECAR):
        paths = document(server)["paths"]
        assert {(method.upper(), path) for path, item in paths.items() for method in item} == declared(server)
