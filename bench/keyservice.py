"""Decapsulation throughput of the key service, against bare decapsulation in the same run.
Prints one JSON object.

Workload (fixed): one ML-KEM-768 cifer with a file KEK; a real `cifer keyservice serve` process
on loopback serving HTTPS (a test CA's certificate; the client verifies it); an API key (so every
request is authenticated, policy-checked, rate-limited and audited); once on SQLite in the data
directory, once on a fresh PostgreSQL database (127.0.0.1:5432, $CIFER_TEST_PG as the tests).
- decap_per_s: single-header POST /v1/decapsulate requests per second, 4 connections (1000 requests).
- single_decap_per_s: the same with 16 concurrent callers, as many sidecars would ask. Goal >= 2000.
- batched_decap_per_s: headers per second in batches of 64 (80 batches, 4 connections).
- inproc_decap_per_s: in this process, per header: KEK unwrap of the seed + ML-KEM-768
  decapsulation + the envelope's key schedule (what the service must do at the least).
- single_vs_inproc: single_decap_per_s / inproc_decap_per_s. Goal >= 0.3.
- batched_vs_inproc: batched_decap_per_s / inproc_decap_per_s. Goal >= 0.5.
- pg_*: the same figures on PostgreSQL.
Rounds of all of them interleaved; medians of 5 rounds (a ratio: the median of each round's ratio).

Usage: python bench/keyservice.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from cifer.crypto.suites import ML_KEM_768
from cifer.envelope import Recipient, encrypt, parse_header_exact
from cifer.envelope.format import parse_header
from cifer.keystore.file_kek import FileKek
from cifer.keystore.store import Keystore, StoredKey
from cifer.tls import client_context

CONCURRENCY = 4
CALLERS = 16  # single_decap_per_s
SINGLE_REQUESTS = 1000
BATCH = 64
BATCHES = 80
ROUNDS = 5
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from certificates import TestCA, write_pair  # noqa: E402
from keyrelease_helpers import decap_body  # noqa: E402  (the data keys come back sealed to its recipient)
from keyservice.databases import temporary_postgres_database  # noqa: E402
from ports import free_port  # noqa: E402


def cli(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data_dir),
            "--rate-limit", "decrypt=1000000000/60", *args]


async def wait_ready(url: str, ssl: object = None) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl)) as http:
        for _ in range(300):
            try:
                async with http.get(f"{url}/v1/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("key service did not start")


async def drive(url: str, auth: dict, bodies: list[dict], *, callers: int = CONCURRENCY, ssl: object = None) -> float:
    """Seconds to send every body with `callers` connections; every answer must be 200."""
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=callers, ssl=ssl)) as http:
        async def worker():
            while queue:
                body = queue.pop()
                async with http.post(f"{url}/v1/decapsulate", json=body, headers=auth) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"{resp.status}: {await resp.text()}")
                    await resp.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(callers)))
        return time.perf_counter() - started


async def stored_key(database_url: str, cifer_id: str) -> StoredKey:
    """The cifer's version 1 as the key service stored it (its seed wrapped by the KEK)."""
    from cifer_keyservice.db.engine import create_engine, sessions
    from cifer_keyservice.db.models import CiferVersion
    engine = create_engine(database_url)
    try:
        async with sessions(engine, read_only=True)() as session:
            version = await session.get(CiferVersion, (cifer_id, 1))
    finally:
        await engine.dispose()
    return StoredKey(ML_KEM_768, version.public_key, version.wrapped_seed, version.kek_id)


def inproc_per_s(data_dir: Path, stored: StoredKey, headers: list[bytes]) -> float:
    kek = FileKek.open(data_dir / "kek.key", create=False)
    keystore = Keystore(kek)
    parsed = [parse_header_exact(h) for h in headers]
    started = time.perf_counter()
    for header in parsed * 10:
        keystore.open_slot(header, stored)  # unwrap + decapsulate + key schedule, per header
    elapsed = time.perf_counter() - started
    kek.close()
    return len(parsed) * 10 / elapsed


async def measure(data_dir: Path, database_url: str) -> dict[str, list[float]]:
    """Each round's figures against one key service on `database_url`, over HTTPS."""
    ca = TestCA()
    cert, key = write_pair(data_dir / "tls", ca.issue())
    ssl = client_context(str(ca.write_ca(data_dir / "ca.crt")))
    database = ("--database-url", database_url)
    created = json.loads(subprocess.run(cli(data_dir, *database, "apikey", "create", "--owner", "usr_bench", "--scope",
                                            "cifer:create", "--scope", "decrypt"),
                                        check=True, capture_output=True, text=True).stdout)
    auth = {"Authorization": f"Bearer {created['key']}"}
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    server = subprocess.Popen(cli(data_dir, *database, "serve", "--port", str(port), "--tls-cert-file", str(cert),
                                  "--tls-key-file", str(key)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_ready(url, ssl)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl)) as http:
            async with http.post(f"{url}/v1/cifers", json={"name": "bench"}, headers=auth) as resp:
                data = (await resp.json())["data"]
        public_key = ML_KEM_768.public_key_from_der(base64.b64decode(data["encapsulation_key"]))
        recipient = Recipient(data["cifer_id"], 1, ML_KEM_768, public_key)
        headers = []
        for _ in range(BATCH):
            envelope = encrypt(recipient, b"x")
            headers.append(envelope[:parse_header(envelope)[1]])
        encoded = [base64.b64encode(h).decode() for h in headers]
        singles = [decap_body([encoded[i % BATCH]]) for i in range(SINGLE_REQUESTS)]
        batches = [decap_body(encoded)] * BATCHES
        stored = await stored_key(database_url, recipient.cifer_id)
        await drive(url, auth, singles[:50], ssl=ssl)  # warm up connections and caches
        rounds: dict[str, list[float]] = {name: [] for name in ("single_s", "callers_s", "batch_s", "inproc")}
        for _ in range(ROUNDS):  # interleaved, so that a noisy neighbour weighs on every figure alike
            rounds["single_s"].append(await drive(url, auth, singles, ssl=ssl))
            rounds["callers_s"].append(await drive(url, auth, singles, callers=CALLERS, ssl=ssl))
            rounds["batch_s"].append(await drive(url, auth, batches, ssl=ssl))
            rounds["inproc"].append(inproc_per_s(data_dir, stored, headers))
        return rounds
    finally:
        server.terminate()
        server.wait(timeout=10)


def figures(rounds: dict[str, list[float]], prefix: str = "") -> dict[str, float]:
    inproc = rounds["inproc"]
    single = [SINGLE_REQUESTS / s / i for s, i in zip(rounds["callers_s"], inproc)]
    batched = [BATCH * BATCHES / s / i for s, i in zip(rounds["batch_s"], inproc)]
    return {
        f"{prefix}decap_per_s": round(SINGLE_REQUESTS / statistics.median(rounds["single_s"]), 1),
        f"{prefix}single_decap_per_s": round(SINGLE_REQUESTS / statistics.median(rounds["callers_s"]), 1),
        f"{prefix}batched_decap_per_s": round(BATCH * BATCHES / statistics.median(rounds["batch_s"]), 1),
        f"{prefix}inproc_decap_per_s": round(statistics.median(inproc), 1),
        f"{prefix}single_vs_inproc": round(statistics.median(single), 3),
        f"{prefix}batched_vs_inproc": round(statistics.median(batched), 3),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_dir, pg_dir = Path(tmp) / "sqlite", Path(tmp) / "postgresql"
        sqlite_dir.mkdir()
        pg_dir.mkdir()
        sqlite = asyncio.run(measure(sqlite_dir, f"sqlite:///{sqlite_dir / 'cifer.db'}"))
        with temporary_postgres_database("cifer_bench") as dsn:  # (runs its own event loop)
            postgresql = asyncio.run(measure(pg_dir, dsn))
    print(json.dumps({
        **figures(sqlite),
        "single_decap_per_s_goal": 2000,
        "single_vs_inproc_goal": 0.3,
        "batched_vs_inproc_goal": 0.5,
        **figures(postgresql, "pg_"),
        "tls": True,
        "concurrency": CONCURRENCY,
        "callers": CALLERS,
        "batch": BATCH,
        "rounds": ROUNDS,
    }, indent=1))


if __name__ == "__main__":
    main()
