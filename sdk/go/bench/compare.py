"""The Go SDK's encrypt throughput against the Python SDK's, in the same run. Prints one JSON object.

Workload (fixed): a fresh `cifer dev` (sidecar and key service in one process, SQLite, file KEK)
on loopback; one CIFER; `encrypt` of a 1 KiB plaintext through the JSON API, 16 callers at once
sharing one client, for DURATION_S:
- go_rps: `go test -bench BenchmarkEncrypt1KiB16Goroutines` in sdk/go (16 goroutines, one
  cifer.Client), its "rps" metric;
- python_rps: `AsyncCiferClient.encrypt` from 16 asyncio tasks on one client;
- go_vs_python_rps: go_rps / python_rps.
Medians of ROUNDS rounds, Go and Python interleaved in each. Both clients share the machine with
the server (2 cores here), so the figures are what the sidecar serves each client, not the
client's own ceiling.

Usage: .venv/bin/python sdk/go/bench/compare.py
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SDK = REPO / "sdk" / "go"
sys.path.insert(0, str(REPO / "tests"))

from dev.running import cifer_dev  # noqa: E402  (tests/ on the path: the one way to start cifer dev)

from cifer import AsyncCiferClient, CiferClient  # noqa: E402

DURATION_S = 5
ROUNDS = 3
CONCURRENCY = 16
PLAINTEXT = b"\x5a" * 1024


def go_rps(url: str, api_key: str, cifer_id: str) -> float:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "CGO_ENABLED": "0", "CIFER_PROXY_URL": url, "CIFER_API_KEY": api_key,
           "CIFER_BENCH_CIFER_ID": cifer_id}
    done = subprocess.run(["go", "test", "-run", "^$", "-bench", "BenchmarkEncrypt1KiB16Goroutines",
                           "-benchtime", f"{DURATION_S}s", "-count", "1", "./cifer"],
                          cwd=SDK, env=env, capture_output=True, text=True, timeout=600)
    match = re.search(r"BenchmarkEncrypt1KiB16Goroutines\S*\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) rps", done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"go test -bench failed:\n{done.stdout}\n{done.stderr}")
    return float(match.group(1))


async def python_rps(url: str, api_key: str, cifer_id: str) -> float:
    async with AsyncCiferClient(api_key=api_key, base_url=url) as client:
        await client.encrypt(cifer_id, PLAINTEXT)
        done = 0
        deadline = time.perf_counter() + DURATION_S

        async def caller() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await client.encrypt(cifer_id, PLAINTEXT)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - start)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, cifer_dev(Path(tmp) / "data") as server:
        with CiferClient(api_key=server.api_key, base_url=server.url) as client:
            cifer_id = client.cifers.create(name="go-vs-python-bench").id
        go, py = [], []
        for _ in range(ROUNDS):
            go.append(go_rps(server.url, server.api_key, cifer_id))
            py.append(asyncio.run(python_rps(server.url, server.api_key, cifer_id)))
    go_median, py_median = statistics.median(go), statistics.median(py)
    print(json.dumps({
        "workload": f"encrypt 1 KiB, JSON API, {CONCURRENCY} concurrent callers, {DURATION_S} s x {ROUNDS} rounds, cifer dev",
        "go_rps": round(go_median, 1), "python_rps": round(py_median, 1),
        "go_vs_python_rps": round(go_median / py_median, 3),
        "go_rounds": [round(x, 1) for x in go], "python_rounds": [round(x, 1) for x in py],
    }))


if __name__ == "__main__":
    main()
