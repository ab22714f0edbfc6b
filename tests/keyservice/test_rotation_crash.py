"""A key service killed (SIGKILL) at random points during rotations: afterwards every key
decrypts at some version, versions are whole, and no rotation lost its event or its record."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest

from cifer.crypto.suites import suite_by_name
from cifer.envelope import Recipient, encrypt
from cifer.envelope.format import parse_header
from keyrelease_helpers import decap_body
from keyservice.helpers import sql_at
from ports import free_port

CIFERS = 4
KILLS = 8


class Service:
    """`cifer keyservice serve` as a real process on a real database."""

    def __init__(self, database_url: str, data_dir) -> None:
        self.base = [sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data_dir),
                     "--database-url", database_url]
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def admin(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=True, timeout=60).stdout

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        # seed §8.1 allows 10 rotations a day per key; the kills below need more than that
        self.proc = subprocess.Popen([*self.base, "serve", "--port", str(port), "--rate-limit", "rotate=1000/86400"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("key service did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


async def rotate_all(service: Service, auth: dict, cifer_ids: list[str], first_done: asyncio.Event) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async def one(cid):
            try:
                async with http.post(f"{service.url}/v1/cifers/{cid}/rotate", json={}, headers=auth) as resp:
                    await resp.read()
                    if resp.status == 200:
                        first_done.set()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass  # the process was killed under us: that is the test
        await asyncio.gather(*(one(cid) for cid in cifer_ids for _ in range(2)))


@pytest.fixture
def service(database_url, tmp_path):
    svc = Service(database_url, tmp_path)
    yield svc
    svc.kill()


async def test_sigkill_during_rotations_leaves_every_key_whole(service, database_url, tmp_path):
    created = json.loads(service.admin("apikey", "create", "--owner", "usr_ops", "--scope", "cifer:read",
                                       "--scope", "cifer:create", "--scope", "decrypt"))
    auth = {"Authorization": f"Bearer {created['key']}"}
    service.start()
    envelopes = {}
    async with aiohttp.ClientSession() as http:
        for n in range(CIFERS):
            async with http.post(f"{service.url}/v1/cifers", json={"name": f"k{n}"}, headers=auth) as resp:
                body = await resp.json()
            cid, der = body["data"]["cifer_id"], base64.b64decode(body["data"]["encapsulation_key"])
            suite = suite_by_name(body["data"]["key_algorithm"])
            envelopes[cid] = encrypt(Recipient(cid, 1, suite, suite.public_key_from_der(der)), b"payload " + cid.encode())
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    for round_ in range(KILLS):
        if service.proc.poll() is not None:
            service.start()
        first_done = asyncio.Event()
        rotations = asyncio.create_task(rotate_all(service, auth, list(envelopes), first_done))
        if round_ % 2:  # odd rounds kill only once a rotation has landed, with others still in flight,
            await asyncio.wait_for(first_done.wait(), timeout=30)  # so some complete however slow the machine
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        service.kill()
        await rotations
    service.start()

    async with aiohttp.ClientSession() as http:
        for cid, envelope in envelopes.items():
            async with http.get(f"{service.url}/v1/keys/{cid}") as resp:
                key = (await resp.json())["data"]
            current = key["key_version"]
            _, length = parse_header(envelope)
            fresh = encrypt(Recipient(cid, current, suite_by_name(key["algorithm"]),
                                      suite_by_name(key["algorithm"]).public_key_from_der(
                                          base64.b64decode(key["encapsulation_key"]))), b"new")
            for sealed in (envelope, fresh):  # the first version and the current one both still open
                _, n = parse_header(sealed)
                headers = [base64.b64encode(sealed[:n]).decode()]
                async with http.post(f"{service.url}/v1/decapsulate", json=decap_body(headers), headers=auth) as resp:
                    assert resp.status == 200, await resp.text()

    rotations_seen = 0
    for cid in envelopes:
        versions = await sql_at(database_url, f"SELECT version, state FROM cifer_versions WHERE cifer_id = '{cid}' ORDER BY version")
        (current,) = await sql_at(database_url, f"SELECT current_version FROM cifers WHERE id = '{cid}'")
        assert [v for v, _ in versions] == list(range(1, current[0] + 1))  # no gap, nothing half-made
        rotations_seen += current[0] - 1
        assert [s for _, s in versions] == ["decrypt_only"] * (current[0] - 1) + ["active"]
        events = await sql_at(database_url, "SELECT payload FROM outbox_events WHERE type = 'cifer.rotated'")
        rotated = [json.loads(p[0]) if isinstance(p[0], str) else p[0] for p in events]
        assert sorted(e["data"]["new_key_version"] for e in rotated if e["data"]["cifer_id"] == cid) == \
            list(range(2, current[0] + 1))  # exactly one event per rotation that happened
        records = await sql_at(database_url, f"SELECT key_version FROM audit_log WHERE operation = 'rotate' AND cifer_id = '{cid}'")
        assert sorted(r[0] for r in records) == list(range(2, current[0] + 1))
    assert rotations_seen > 0, "no rotation completed between the kills: the test proved nothing"
    assert "intact" in service.admin("audit", "verify")
