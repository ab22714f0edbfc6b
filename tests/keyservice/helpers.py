"""Small helpers for key-service tests that seal envelopes with a cifer's public key."""

from __future__ import annotations

import base64

from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.db.engine import create_engine, sessions
from keyrelease_helpers import data_key_of
from sqlalchemy import text

from cifer.crypto.suites import suite_by_name
from cifer.envelope import Recipient
from cifer.envelope.format import parse_header


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def new_cifer(keyservice, headers, **body):
    _, created = await keyservice.call("POST", "/v1/cifers", json={"name": "k", **body}, headers=headers, expect=201)
    return created["data"]["cifer_id"]


async def recipient(keyservice, cifer_id) -> Recipient:
    _, key = await keyservice.call("GET", f"/v1/keys/{cifer_id}", expect=200)
    data = key["data"]
    suite = suite_by_name(data["algorithm"])
    return Recipient(cifer_id, data["key_version"], suite,
                     suite.public_key_from_der(base64.b64decode(data["encapsulation_key"])))


def header_of(envelope: bytes) -> bytes:
    _, length = parse_header(envelope)
    return envelope[:length]


def opener_from(results):
    """A KeyOpener that uses the data key the service returned (as the sidecar will)."""
    def open_key(header):
        return data_key_of(results[0], header.to_bytes())
    return open_key


async def sql_at(database_url: str, *statements: str) -> list:
    """Runs SQL straight on a database, as an operator (or an attacker) could; rows of the last."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            result = None
            for statement in statements:
                result = await conn.execute(text(statement))
            return list(result) if result is not None and result.returns_rows else []
    finally:
        await engine.dispose()


async def sql(keyservice, *statements: str) -> list:
    """`sql_at` on a key service's database."""
    return await sql_at(keyservice.settings.database_url, *statements)


async def revoke_api_keys_of(database_url: str, owner: str) -> None:
    """Revokes every API key of `owner` in the database, as `cifer keyservice apikey revoke` does."""
    engine = create_engine(database_url)
    try:
        store = ApiKeyStore(sessions(engine))
        for row in await store.list():
            if row["owner_id"] == owner:
                assert await store.revoke(row["id"])
    finally:
        await engine.dispose()
