"""Seed 001's encryption against /v1/encrypt in the same run. Prints one JSON object.

Workload (fixed): `cifer dev` (the key service and the sidecar in one process, SQLite, file KEK)
on loopback; the load comes from another process (an aiohttp client pool, CONCURRENCY
connections), OBJECTS requests per measurement, rounds interleaved, medians of ROUNDS.
- objects_per_s: POST /api/security/encrypt of a small JSON object (about 200 bytes serialized),
  the key chosen from userId and dataType (the sidecar holds the lookup for its TTL).
- v1_encrypt_per_s: POST /v1/encrypt of the same object's canonical JSON bytes, base64, to the same key.
- vs_v1_encrypt: objects_per_s / v1_encrypt_per_s. Goal >= 0.8.
- objects_per_s_fields: the same objects with 5 of their fields each sealed as its own envelope.

Usage: python bench/security_api.py [--objects N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from ports import free_port  # noqa: E402

CONCURRENCY = 16
OBJECTS = 10_000
ROUNDS = 3
USER = "user_bench"
RECORD = {"heartRate": 72, "bloodPressure": "120/80", "medications": ["Lisinopril 10mg", "Metformin 500mg"],
          "steps": 8042, "sleepHours": 7.5, "notes": "resting, after the morning walk", "visit": "2026-12-05"}
FIELDS = ["heartRate", "bloodPressure", "medications", "steps", "notes"]


async def _load(url: str, bodies: list[bytes], headers: dict[str, str]) -> float:
    """Requests per second for sending every body once, CONCURRENCY at a time; each must answer 200."""
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                async with http.post(url, data=body) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{url} answered {resp.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return len(bodies) / (time.perf_counter() - started)


def load(url: str, bodies: list[bytes], headers: dict[str, str]) -> float:
    """In a process of its own, so that the client's work is not the server's."""
    spec = json.dumps({"url": url, "bodies": [body.decode() for body in bodies], "headers": headers})
    run = subprocess.run([sys.executable, __file__, "--load"], input=spec, capture_output=True, text=True,
                         check=True, timeout=600)
    return float(run.stdout)


def main(objects: int) -> None:
    key = "sk_test_" + "B" * 56
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "cifer.cli", "dev", "--port", str(port), "--grpc-port", "0",
                                   "--data-dir", str(Path(tmp) / "data")], env={**os.environ, "CIFER_API_KEY": key},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    asyncio.run(_get(url + "/v1/health"))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            made = asyncio.run(_post(url + "/api/security/keys/generate", headers, {
                "userId": USER, "keyType": "health-data", "algorithm": "AES-256-GCM", "keyUsage": "both"}))
            canonical = json.dumps(RECORD, sort_keys=True, separators=(",", ":")).encode()
            seed001 = [json.dumps({"data": {**RECORD, "n": n}, "dataType": "health", "userId": USER}).encode()
                       for n in range(objects)]
            fields = [json.dumps({"data": {**RECORD, "n": n}, "dataType": "health", "userId": USER,
                                  "fields": FIELDS}).encode() for n in range(objects)]
            v1 = [json.dumps({"cifer_id": made["keyId"], "plaintext": base64.b64encode(canonical).decode()}).encode()
                  for _ in range(objects)]
            rounds = {"objects_per_s": [], "v1_encrypt_per_s": [], "objects_per_s_fields": []}
            for _ in range(ROUNDS):
                rounds["v1_encrypt_per_s"].append(load(url + "/v1/encrypt", v1, headers))
                rounds["objects_per_s"].append(load(url + "/api/security/encrypt", seed001, headers))
                rounds["objects_per_s_fields"].append(load(url + "/api/security/encrypt", fields, headers))
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {name: round(statistics.median(values), 1) for name, values in rounds.items()}
    result["vs_v1_encrypt"] = round(statistics.median(
        s / v for s, v in zip(rounds["objects_per_s"], rounds["v1_encrypt_per_s"])), 3)
    result |= {"object_bytes": len(canonical) + len(b',"n":0'), "objects": objects, "concurrency": CONCURRENCY,
               "rounds": ROUNDS, "goal_vs_v1_encrypt": 0.8}
    print(json.dumps(result, indent=1))


async def _get(url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        if resp.status != 200:
            raise OSError(resp.status)


async def _post(url: str, headers: dict[str, str], body: dict) -> dict:
    async with aiohttp.ClientSession(headers=headers) as http, http.post(url, json=body) as resp:
        answer = await resp.json()
        if resp.status >= 300:
            raise SystemExit(f"{url}: {resp.status} {answer}")
        return answer["data"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=OBJECTS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        spec = json.loads(sys.stdin.read())
        print(asyncio.run(_load(spec["url"], [body.encode() for body in spec["bodies"]], spec["headers"])))
    else:
        main(args.objects)
