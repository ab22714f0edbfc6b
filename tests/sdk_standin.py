"""An in-memory stand-in for the sidecar, for the SDK and CLI unit tests.

It speaks the sidecar's HTTP as the seed writes it (the §2.3 envelope, the §4 JSON endpoints,
the binary /v1/encrypt and /v1/decrypt streamed both ways, §9 error bodies) but holds no
cryptography: its "envelope" is a toy, `TOY1` + a JSON header line + the plaintext XOR 0x5A +
`END!`. Like the real sidecar it streams its answer while still reading the upload, and it
reports a bad tail found mid-stream by aborting the connection before the terminating chunk.

Tests script failures with `fail_next` and read what was sent in `requests`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import json
from typing import Any

import pytest
from aiohttp import web

MAGIC = b"TOY1"
TRAILER = b"END!"
API_KEY = "sk_test_" + "a" * 56
PIECE_BYTES = 64 * 1024


def toy_envelope(cifer_id: str, plaintext: bytes, metadata: dict[str, str] | None = None, key_version: int = 1) -> bytes:
    header = json.dumps({"cifer_id": cifer_id, "key_version": key_version, "metadata": metadata or {}}).encode()
    return MAGIC + header + b"\n" + bytes(b ^ 0x5A for b in plaintext) + TRAILER


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None  # None for binary uploads (streamed, not kept)
    streamed_bytes: int = 0


def envelope(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"success": True, "data": payload, "meta": {"request_id": "req_standin"}},
                             status=status, headers=headers)


def error(code: str, status: int, message: str = "scripted", details: dict | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    body = {"success": False, "error": {"code": code, "message": message, "details": details or {}},
            "meta": {"request_id": "req_err"}}
    return web.json_response(body, status=status, headers=headers)


class Standin:
    def __init__(self, *, api_key: str | None = API_KEY) -> None:
        self.api_key = api_key
        self.requests: list[Seen] = []
        self.cifers: dict[str, dict[str, Any]] = {}
        self._scripted: dict[tuple[str, str], collections.deque] = collections.defaultdict(collections.deque)
        self.abort_encrypt_after_bytes: int | None = None  # cut an encryption answer after this much input
        self._next_id = 0

    def fail_next(self, method: str, path: str, response_factory, *, times: int = 1) -> None:
        """The next `times` requests to `method path` get `response_factory()` instead."""
        for _ in range(times):
            self._scripted[(method, path)].append(response_factory)

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_script], client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/cifers", self.create)
        app.router.add_get("/v1/cifers", self.list_cifers)
        app.router.add_get("/v1/cifers/{cifer_id}", self.get)
        app.router.add_patch("/v1/cifers/{cifer_id}", self.update)
        app.router.add_post("/v1/cifers/{cifer_id}/rotate", self.rotate)
        app.router.add_delete("/v1/cifers/{cifer_id}", self.revoke)
        app.router.add_get("/v1/keys/{cifer_id}", self.public_key)
        app.router.add_post("/v1/encrypt", self.encrypt)
        app.router.add_post("/v1/decrypt", self.decrypt)
        app.router.add_post("/v1/webhooks", self.create_webhook)
        app.router.add_get("/v1/webhooks", self.list_webhooks)
        app.router.add_get("/v1/webhooks/{webhook_id}", self.get_webhook)
        app.router.add_patch("/v1/webhooks/{webhook_id}", self.update_webhook)
        app.router.add_delete("/v1/webhooks/{webhook_id}", self.delete_webhook)
        return app

    @web.middleware
    async def _record_and_script(self, request: web.Request, handler):
        binary = request.content_type == "application/octet-stream"
        body = None if binary else await request.read()
        self.requests.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        scripted = self._scripted.get((request.method, request.path))
        if scripted:
            return scripted.popleft()()
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error("UNAUTHORIZED", 401, "Invalid or missing credentials")
        return await handler(request)

    # --- cifers -----------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1
        return f"cif_standin{self._next_id:08d}"

    async def create(self, request: web.Request) -> web.Response:
        cifer_id = self.add_cifer(await request.json())
        return envelope({**self.cifers[cifer_id], "encapsulation_key": base64.b64encode(b"DER" * 8).decode()}, 201)

    def add_cifer(self, body: dict[str, Any] | None = None) -> str:
        """A cifer, as if created through the API; its id."""
        body = body or {}
        cifer_id = self._new_id()
        self.cifers[cifer_id] = {
            "cifer_id": cifer_id, "name": body.get("name", ""), "description": body.get("description", ""),
            "status": "active", "created_at": "2026-01-08T10:30:00Z", "updated_at": "2026-01-08T10:30:00Z",
            "owner_id": "usr_standin", "key_version": 1, "key_algorithm": body.get("algorithm", "ML-KEM-768"),
            "metadata": body.get("metadata", {}), "policy": body.get("policy", {}),
        }
        return cifer_id

    def _missing(self, request: web.Request) -> web.Response:
        return error("NOT_FOUND", 404, "Resource not found", {"cifer_id": request.match_info["cifer_id"]})

    async def get(self, request: web.Request) -> web.Response:
        cifer = self.cifers.get(request.match_info["cifer_id"])
        if cifer is None:
            return self._missing(request)
        return envelope({**cifer, "statistics": {"total_encryptions": 3, "total_decryptions": 2, "last_used_at": None}})

    async def list_cifers(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "20"))
        status, cursor = request.query.get("status"), request.query.get("cursor")
        rows = [c for i, c in sorted(self.cifers.items()) if (status is None or c["status"] == status)
                and (cursor is None or i > cursor)]
        page = rows[:limit]
        more = len(rows) > limit
        return envelope({"cifers": page, "has_more": more, "next_cursor": page[-1]["cifer_id"] if more else None})

    async def update(self, request: web.Request) -> web.Response:
        cifer = self.cifers.get(request.match_info["cifer_id"])
        if cifer is None:
            return self._missing(request)
        cifer.update(json.loads(self.requests[-1].body or b"{}"))  # name, description, metadata, policy: replaced
        return envelope(cifer)

    async def rotate(self, request: web.Request) -> web.Response:
        cifer = self.cifers.get(request.match_info["cifer_id"])
        if cifer is None:
            return self._missing(request)
        if cifer["status"] == "revoked":
            return error("CIFER_REVOKED", 410, "CIFER has been revoked", {"cifer_id": cifer["cifer_id"]})
        body = json.loads(self.requests[-1].body or b"{}")
        cifer["key_version"] += 1
        days = body.get("re_encryption_window_days", 30)
        return envelope({"cifer_id": cifer["cifer_id"], "old_key_version": cifer["key_version"] - 1,
                         "new_key_version": cifer["key_version"], "new_encapsulation_key": base64.b64encode(b"K").decode(),
                         "rotation_initiated_at": "2026-01-08T10:30:00Z",
                         "re_encryption_deadline": f"2026-01-{8 + min(days, 20):02d}T10:30:00Z"})

    async def revoke(self, request: web.Request) -> web.Response:
        cifer = self.cifers.get(request.match_info["cifer_id"])
        if cifer is None:
            return self._missing(request)
        if request.headers.get("X-Confirm-Revocation") != "true":
            return error("INVALID_REQUEST", 400, "send X-Confirm-Revocation: true")
        cifer["status"] = "revoked"
        return envelope({"cifer_id": cifer["cifer_id"], "status": "revoked", "revoked_at": "2026-01-08T10:31:00Z",
                         "warning": "This action is irreversible."})

    async def public_key(self, request: web.Request) -> web.Response:
        cifer = self.cifers.get(request.match_info["cifer_id"])
        if cifer is None:
            return self._missing(request)
        return envelope({"cifer_id": cifer["cifer_id"], "encapsulation_key": base64.b64encode(b"DER" * 8).decode(),
                         "key_version": cifer["key_version"], "algorithm": cifer["key_algorithm"], "valid_until": None})

    # --- encrypt / decrypt ------------------------------------------------------------------

    def _usable(self, cifer_id: str | None) -> web.Response | None:
        cifer = self.cifers.get(cifer_id or "")
        if cifer is None:
            return error("NOT_FOUND", 404, "Resource not found", {"cifer_id": cifer_id})
        if cifer["status"] == "revoked":
            return error("CIFER_REVOKED", 410, "CIFER has been revoked", {"cifer_id": cifer_id})
        return None

    async def encrypt(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "application/octet-stream":
            return await self._encrypt_stream(request)
        body = json.loads(self.requests[-1].body)
        refused = self._usable(body.get("cifer_id"))
        if refused:
            return refused
        plaintext = base64.b64decode(body["plaintext"])
        sealed = toy_envelope(body["cifer_id"], plaintext, body.get("metadata"),
                              self.cifers[body["cifer_id"]]["key_version"])
        return envelope({"ciphertext": base64.b64encode(sealed).decode(), "encoding": "base64",
                         "envelope_size": len(sealed), "algorithm": {"kem": "ML-KEM-768", "aead": "AES-256-GCM"},
                         "metadata": body.get("metadata", {}), "cifer_id": body["cifer_id"], "key_version": 1})

    async def _encrypt_stream(self, request: web.Request) -> web.StreamResponse:
        cifer_id = request.headers.get("X-Cifer-Id")
        refused = self._usable(cifer_id)
        if refused:
            return refused
        metadata = json.loads(request.headers.get("X-Cifer-Metadata", "{}"))
        seen = self.requests[-1]
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream", "X-Cifer-Id": cifer_id,
                                           "X-Cifer-Key-Version": "1", "X-Cifer-Algorithm": "ML-KEM-768"})
        await resp.prepare(request)
        await resp.write(toy_envelope(cifer_id, b"", metadata)[: -len(TRAILER)])  # the header goes out first
        async for piece in request.content.iter_chunked(PIECE_BYTES):
            seen.streamed_bytes += len(piece)
            await resp.write(bytes(b ^ 0x5A for b in piece))
            if self.abort_encrypt_after_bytes is not None and seen.streamed_bytes >= self.abort_encrypt_after_bytes:
                request.transport.abort()
                return resp
        await resp.write(TRAILER)
        await resp.write_eof()
        return resp

    async def decrypt(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "application/octet-stream":
            return await self._decrypt_stream(request)
        body = json.loads(self.requests[-1].body)
        sealed = base64.b64decode(body["ciphertext"])
        if not sealed.startswith(MAGIC) or not sealed.endswith(TRAILER) or b"\n" not in sealed:
            return error("INVALID_CIPHERTEXT", 400, "Malformed ciphertext")
        header, _, payload = sealed[len(MAGIC):-len(TRAILER)].partition(b"\n")
        meta = json.loads(header)
        refused = self._usable(meta["cifer_id"])
        if refused:
            return refused
        return envelope({"plaintext": base64.b64encode(bytes(b ^ 0x5A for b in payload)).decode(),
                         "encoding": "base64", "cifer_id": meta["cifer_id"], "key_version": meta["key_version"],
                         "metadata": meta["metadata"]})

    async def _decrypt_stream(self, request: web.Request) -> web.StreamResponse:
        """Header first (errors before it are ordinary answers), then the payload as it comes,
        holding back the trailer; a wrong trailer after the answer began cuts the connection."""
        seen, buffered = self.requests[-1], b""
        pieces = request.content.iter_chunked(PIECE_BYTES)
        async for piece in pieces:
            seen.streamed_bytes += len(piece)
            buffered += piece
            if b"\n" in buffered or len(buffered) > 4096:
                break
        if not buffered.startswith(MAGIC) or b"\n" not in buffered:
            return error("INVALID_CIPHERTEXT", 400, "Malformed ciphertext")
        header, _, held = buffered[len(MAGIC):].partition(b"\n")
        meta = json.loads(header)
        refused = self._usable(meta["cifer_id"])
        if refused:
            return refused
        resp = web.StreamResponse(headers={
            "Content-Type": "application/octet-stream", "X-Cifer-Id": meta["cifer_id"],
            "X-Cifer-Key-Version": str(meta["key_version"]), "X-Cifer-Metadata": json.dumps(meta["metadata"]),
        })
        await resp.prepare(request)
        async for piece in pieces:
            seen.streamed_bytes += len(piece)
            held += piece
            if len(held) > len(TRAILER):
                out, held = held[: -len(TRAILER)], held[-len(TRAILER):]
                await resp.write(bytes(b ^ 0x5A for b in out))
                await asyncio.sleep(0)
        if held != TRAILER:
            request.transport.abort()  # as the sidecar does: never a clean end for a bad stream
            return resp
        await resp.write_eof()
        return resp

    # --- webhooks -----------------------------------------------------------------------------

    async def create_webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        return envelope({"id": "wh_" + "a" * 24, "url": body["url"], "events": body["events"],
                         "cifer_ids": body.get("cifer_ids"), "created_at": "2026-01-08T10:30:00Z"}, 201)

    async def list_webhooks(self, request: web.Request) -> web.Response:
        return envelope({"webhooks": [{"id": "wh_" + "a" * 24, "url": "https://x.example/h", "events": ["cifer.created"],
                                       "created_at": "2026-01-08T10:30:00Z"}], "has_more": False, "next_cursor": None})

    async def get_webhook(self, request: web.Request) -> web.Response:
        return envelope({"id": request.match_info["webhook_id"], "url": "https://x.example/h",
                         "events": ["cifer.created"], "created_at": "2026-01-08T10:30:00Z"})

    async def update_webhook(self, request: web.Request) -> web.Response:
        hook = {"id": request.match_info["webhook_id"], "url": "https://x.example/h", "events": ["cifer.created"],
                "cifer_ids": ["cif_standin00000001"], "created_at": "2026-01-08T10:30:00Z"}
        hook.update({k: v for k, v in json.loads(self.requests[-1].body).items() if k != "secret"})
        return envelope(hook)

    async def delete_webhook(self, request: web.Request) -> web.Response:
        return envelope({"id": request.match_info["webhook_id"], "deleted": True, "deleted_at": "2026-01-08T10:30:00Z"})


class Sleeps(list):
    """Records the waits the client asks for instead of sleeping them."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
async def standin(aiohttp_server):
    """The stand-in on a real loopback port."""
    fake = Standin()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("/"))
    return fake


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
async def client(standin, sleeps):
    """An SDK client of the stand-in that records its backoff instead of sleeping."""
    from cifer import AsyncCiferClient

    async with AsyncCiferClient(API_KEY, base_url=standin.url, sleep=sleeps) as c:
        yield c
