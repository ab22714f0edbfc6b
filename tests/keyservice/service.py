"""A key service on loopback for tests: the real app factory, a real database, a file KEK
(the PKCS#11 path has its own tests), and API keys made the way the admin command makes them."""

from __future__ import annotations

import dataclasses
import io

import pytest

from cifer.keystore.config import FileKekSettings
from cifer_keyservice.app import create_app
from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.db.engine import create_engine, sessions
from cifer_keyservice.settings import KeyServiceSettings

ALL_SCOPES = ("cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt")


@dataclasses.dataclass
class KeyService:
    client: object  # aiohttp TestClient
    settings: KeyServiceSettings
    audit_lines: io.StringIO

    async def api_key(self, owner: str, scopes=ALL_SCOPES) -> dict[str, str]:
        """Authorization headers for a new API key of `owner`."""
        engine = create_engine(self.settings.database_url)
        try:
            key, _ = await ApiKeyStore(sessions(engine)).create(owner_id=owner, scopes=scopes, live=False)
        finally:
            await engine.dispose()
        return {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, *, headers=None, expect: int | None = None, **kwargs):
        resp = await self.client.request(method, path, headers=headers, **kwargs)
        body = await resp.json()
        if expect is not None:
            assert resp.status == expect, body
        return resp, body


@pytest.fixture
async def keyservice(aiohttp_client, database_url, tmp_path):
    settings = KeyServiceSettings(database_url=database_url, kek=FileKekSettings(tmp_path / "kek.key"))
    audit_lines = io.StringIO()
    client = await aiohttp_client(create_app(settings, audit_stream=audit_lines))
    yield KeyService(client, settings, audit_lines)
