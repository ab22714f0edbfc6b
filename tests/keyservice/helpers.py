"""Small helpers for key-service tests that seal envelopes with a cifer's public key."""

from __future__ import annotations

import base64

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
        return base64.b64decode(results[0]["data_key"])
    return open_key
