"""Seed 001's security health (docs/security-api.md, "Health"): measured figures, and a status that
turns `unhealthy` when the key service's PostgreSQL stops answering and `healthy` again when it
is back. The database is reached through a TCP relay on loopback that the test stops and starts:
to the service that is exactly a database server going away (connections cut, new ones refused)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import jsonschema
import pytest

from cifer.envelope import encrypt
from dev.security_seed_schemas import SECURITY_HEALTH_RESPONSE
from keyrelease_helpers import decap_body
from keyservice.databases import temporary_postgres_database
from keyservice.helpers import b64, header_of, recipient
from keyservice.test_webhooks import eventually, fast_settings, start_service
from ports import free_port

PG_HOST, PG_PORT = "127.0.0.1", 5432


@dataclasses.dataclass
class Relay:
    """Loopback TCP to the PostgreSQL server, which the test can cut and restore."""

    port: int
    server: asyncio.AbstractServer | None = None
    connections: set = dataclasses.field(default_factory=set)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        self.connections.update((writer, upstream_writer))
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.server.close()
        for writer in self.connections:
            writer.transport.abort()
        self.connections.clear()
        await self.server.wait_closed()


@pytest.fixture
def postgres():
    with temporary_postgres_database() as dsn:
        yield dsn


async def health(service, headers) -> dict:
    _, body = await service.call("GET", "/api/security/health", headers=headers, expect=200)
    jsonschema.validate(body["data"], SECURITY_HEALTH_RESPONSE)
    return body["data"]


async def test_health_is_measured_and_follows_its_database(aiohttp_client, tmp_path, postgres):
    relay = Relay(free_port())
    await relay.start()
    try:
        url = postgres.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{relay.port}")
        # API keys are remembered a minute: the admin's credential must outlive the outage it asks about.
        service = await start_service(aiohttp_client, fast_settings(url, tmp_path, api_key_cache_s=60.0))
        admin = await service.api_key("usr_admin", scopes=("admin",))
        alice = await service.api_key("usr_alice")
        _, made = await service.call("POST", "/api/security/keys/generate", headers=alice, expect=201, json={
            "userId": "user_h", "keyType": "user-data", "algorithm": "AES-256-GCM", "keyUsage": "both"})
        envelope = encrypt(await recipient(service, made["data"]["keyId"]), b"x")
        for _ in range(2):
            await service.call("POST", "/v1/decapsulate", headers=alice, expect=200,
                               json=decap_body([b64(header_of(envelope))]))
        await service.call("GET", "/api/security/health", headers=alice, expect=200)  # alice too: cached

        well = await health(service, admin)
        assert well["status"] == "healthy" and well["compliance"]["status"] == "compliant"
        key_management, encryption = well["keyManagement"], well["encryption"]
        assert (key_management["activeKeys"], key_management["expiredKeys"], key_management["errorRate"]) == (1, 0, 0)
        assert key_management["averageResponseTime"] > 0 and encryption["averageLatency"] > 0
        assert encryption["operationsPerSecond"] == round(2 / 300, 4) and encryption["queueDepth"] == 0
        assert well["compliance"]["auditLogHealth"] is True and well["alerts"] == []

        await relay.stop()
        down = await health(service, admin)
        assert down["status"] == "unhealthy" and down["keyManagement"]["status"] == "unhealthy"
        assert down["compliance"] == {"status": "violation", "auditLogHealth": False,
                                      "retentionCompliance": False, "regulatoryFlags": []}
        [alert] = [a for a in down["alerts"] if a["component"] == "key_management"]
        assert alert["severity"] == "critical" and "database" in alert["message"]

        await relay.start()
        back = await eventually(lambda: _healthy(service, admin))
        assert back["keyManagement"]["activeKeys"] == 1
    finally:
        await relay.stop()


async def _healthy(service, headers) -> dict | None:
    data = await health(service, headers)
    return data if data["status"] == "healthy" else None
