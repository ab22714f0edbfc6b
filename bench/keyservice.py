"""Decapsulation throughput of the key service, against bare decapsulation in the same run.
Prints one JSON object.

Workload (fixed): one ML-KEM-768 cifer on SQLite with a file KEK; a real `cifer keyservice
serve` process on loopback; a client with 4 concurrent connections and an API key (so every
request is authenticated, policy-checked, rate-limited and audited).
- decap_per_s: single-header POST /v1/decapsulate requests per second (1000 requests).
- batched_decap_per_s: headers per second in batches of 64 (80 batches).
- inproc_decap_per_s: in this process, per header: KEK unwrap of the seed + ML-KEM-768
  decapsulation + the envelope's key schedule (what the service must do at the least).
- batched_vs_inproc: batched_decap_per_s / inproc_decap_per_s. Goal >= 0.5.
Rounds of all three interleaved; medians of 5 rounds (the ratio: the median of each round's ratio).

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

CONCURRENCY = 4
SINGLE_REQUESTS = 1000
BATCH = 64
BATCHES = 80
ROUNDS = 5
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from keyrelease_helpers import decap_body  # noqa: E402  (the data keys come back sealed to its recipient)
from ports import free_port  # noqa: E402


def cli(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data_dir),
            "--rate-limit", "decrypt=1000000000/60", *args]


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"{url}/v1/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("key service did not start")


async def drive(url: str, auth: dict, bodies: list[dict]) -> float:
    """Seconds to send every body with CONCURRENCY connections; every answer must be 200."""
    queue = list(reversed(bodies))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        async def worker():
            while queue:
                body = queue.pop()
                async with http.post(f"{url}/v1/decapsulate", json=body, headers=auth) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"{resp.status}: {await resp.text()}")
                    await resp.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started


async def stored_key(data_dir: Path, cifer_id: str) -> StoredKey:
    """The cifer's version 1 as the key service stored it (its seed wrapped by the KEK)."""
    from cifer_keyservice.db.engine import create_engine, sessions
    from cifer_keyservice.db.models import CiferVersion
    engine = create_engine(f"sqlite:///{data_dir / 'cifer.db'}")
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


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        created = json.loads(subprocess.run(cli(data_dir, "apikey", "create", "--owner", "usr_bench", "--scope",
                                                "cifer:create", "--scope", "decrypt"),
                                            check=True, capture_output=True, text=True).stdout)
        auth = {"Authorization": f"Bearer {created['key']}"}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(cli(data_dir, "serve", "--port", str(port)),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await wait_ready(url)
            async with aiohttp.ClientSession() as http:
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
            stored = await stored_key(data_dir, recipient.cifer_id)
            await drive(url, auth, singles[:50])  # warm up connections and caches
            single_s, batch_s, inproc, ratios = [], [], [], []
            for _ in range(ROUNDS):  # interleaved, so that a noisy neighbour weighs on both sides alike
                single_s.append(await drive(url, auth, singles))
                batch_s.append(await drive(url, auth, batches))
                inproc.append(inproc_per_s(data_dir, stored, headers))
                ratios.append(BATCH * BATCHES / batch_s[-1] / inproc[-1])
        finally:
            server.terminate()
            server.wait(timeout=10)

    decap = SINGLE_REQUESTS / statistics.median(single_s)
    batched = BATCH * BATCHES / statistics.median(batch_s)
    print(json.dumps({
        "decap_per_s": round(decap, 1),
        "batched_decap_per_s": round(batched, 1),
        "inproc_decap_per_s": round(statistics.median(inproc), 1),
        "batched_vs_inproc": round(statistics.median(ratios), 3),
        "batched_vs_inproc_goal": 0.5,
        "concurrency": CONCURRENCY,
        "batch": BATCH,
        "rounds": ROUNDS,
    }, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
