"""Throughput of the sidecar against a bare aiohttp handler in the same run. Prints one JSON object.

Workload (fixed): `cifer keyservice serve` (SQLite, file KEK, limits raised so that quotas do
not shape the numbers) and `cifer proxy` in front of it, as separate processes on loopback; the
load comes from another process (an aiohttp client pool, CONCURRENCY connections).
- encrypt_rps, encrypt_p99_ms: POST /v1/encrypt, JSON, 1 KiB plaintext, for DURATION_S.
- bare_rps: the same client posting the same body to a bare aiohttp handler that answers 1 KiB.
- encrypt_vs_bare_rps: encrypt_rps / bare_rps. Goal >= 0.60.
- decrypt_rps: POST /v1/decrypt, JSON, of a 1 KiB envelope, CONCURRENCY at once: each data key
  released by the key service sealed to the sidecar (docs/key-release.md), the sidecar's concurrent
  decrypts coalesced into batched /v1/decapsulate calls.
- decrypt_vs_encrypt_rps: decrypt_rps / encrypt_rps of the same round.
- stream_mib_s: binary POST /v1/encrypt of 1 GiB, the envelope read and dropped by the client.
- stream_peak_rss_mib: the sidecar's peak resident memory (VmHWM) after all of it. Goal <= 128.
Medians of ROUNDS rounds; encrypt and bare interleaved in each round.
- startup_s: from starting `cifer proxy` (a fresh process) to its first 200 from /v1/health,
  the median of STARTS starts. Goal <= 0.5.
- idle_rss_mib: a fresh sidecar's resident memory (VmRSS) after its start and one 1 KiB encrypt,
  the median over the same starts. Goal <= 50.

Usage: python bench/proxy.py            (everything)
       python bench/proxy.py --startup  (startup_s and idle_rss_mib only)
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
DURATION_S = 5.0
ROUNDS = 3
STARTS = 7
STREAM_BYTES = 1024**3
BLOCK = 1024 * 1024
BARE_SERVER = """
import sys
from aiohttp import web
body = b"x" * 1024
async def handler(request):
    await request.read()
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_post("/bare", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


# --- the load generator, run as its own process -----------------------------------------

async def _load(url: str, body: bytes, headers: dict[str, str], duration_s: float, concurrency: int) -> dict:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + duration_s
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        failures += 1
                latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "requests": len(latencies), "failures": failures}


def load(url: str, body: bytes, headers: dict[str, str]) -> dict:
    """Runs the load generator in a separate process; its JSON result."""
    spec = json.dumps({"url": url, "body": base64.b64encode(body).decode(), "headers": headers})
    done = subprocess.run([sys.executable, __file__, "--load"], input=spec, capture_output=True, text=True,
                          check=True, timeout=120)
    result = json.loads(done.stdout)
    if result["failures"]:
        raise RuntimeError(f"{result['failures']} requests to {url} failed")
    return result


# --- the benchmark ----------------------------------------------------------------------

def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cifer.cli", *args]


def wait_ready(url: str, timeout_s: float = 60.0, *, status: int | None = None, poll_s: float = 0.1) -> None:
    """Until `url` answers: with any status, or with `status` only; asked every `poll_s`."""
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                answered = resp.status
        except urllib.error.HTTPError as exc:
            answered = exc.code
        except OSError:
            answered = None
        if answered is not None and status in (None, answered):
            return
        time.sleep(poll_s)
    raise RuntimeError(f"{url} did not answer" + (f" {status}" if status else ""))


def rss_mib(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def startup_and_idle(keyservice_url: str, encrypt_body: bytes, headers: dict[str, str]) -> dict:
    """STARTS fresh sidecars: each timed from its start to its first healthy answer, then given one
    encrypt, then measured (VmRSS) and stopped."""
    import urllib.request
    starts, idle = [], []
    for _ in range(STARTS):
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen(cli("proxy", "--keyservice-url", keyservice_url, "--port", str(port), "--grpc-port", "0"),
                                stdout=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}/v1/health", status=200, poll_s=0.005)  # timed closely
            starts.append(time.perf_counter() - started)
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/encrypt", data=encrypt_body, headers=headers)
            urllib.request.urlopen(request).close()
            idle.append(rss_mib(proc.pid, "VmRSS"))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return {"startup_s": round(statistics.median(starts), 3), "startup_s_goal": 0.5,
            "idle_rss_mib": round(statistics.median(idle), 1), "idle_rss_mib_goal": 50, "starts": STARTS}


async def stream_mib_s(url: str, headers: dict[str, str]) -> float:
    block = os.urandom(BLOCK)

    async def body():
        for _ in range(STREAM_BYTES // BLOCK):
            yield block

    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        async with http.post(url, data=body(), headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            async for _ in resp.content.iter_chunked(BLOCK):
                pass
        return STREAM_BYTES / (1024 * 1024) / (time.perf_counter() - started)


def main(startup_only: bool) -> None:
    median = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        keyservice = cli("keyservice", "--data-dir", tmp, "--rate-limit", "decrypt=1000000000/60",
                         "--rate-limit", "create=1000/3600", "--rate-limit", "encrypt=1000000000/60")
        made = subprocess.run([*keyservice, "apikey", "create", "--owner", "usr_bench", "--scope", "cifer:create",
                               "--scope", "encrypt", "--scope", "decrypt"], check=True, capture_output=True, text=True)
        auth = {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}
        ks_port, proxy_port, bare_port = free_port(), free_port(), free_port()
        keyservice_url = f"http://127.0.0.1:{ks_port}"
        procs = [subprocess.Popen([*keyservice, "serve", "--port", str(ks_port)], stdout=subprocess.DEVNULL)]
        try:
            wait_ready(f"{keyservice_url}/v1/health")
            procs.append(subprocess.Popen(cli("proxy", "--keyservice-url", keyservice_url,
                                              "--port", str(proxy_port), "--grpc-port", "0"),
                                          stdout=subprocess.DEVNULL))
            sidecar = f"http://127.0.0.1:{proxy_port}"
            wait_ready(f"{sidecar}/metrics")
            import urllib.request
            json_headers = {**auth, "Content-Type": "application/json"}
            request = urllib.request.Request(f"{sidecar}/v1/cifers", data=b'{"name": "bench"}', headers=json_headers)
            cifer_id = json.load(urllib.request.urlopen(request))["data"]["cifer_id"]
            encrypt_body = json.dumps({"cifer_id": cifer_id, "plaintext": base64.b64encode(os.urandom(1024)).decode()})
            started = startup_and_idle(keyservice_url, encrypt_body.encode(), json_headers)  # on a quiet machine
            if startup_only:
                print(json.dumps(started, indent=1))
                return
            procs.append(subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)]))
            wait_ready(f"http://127.0.0.1:{bare_port}/bare")
            request = urllib.request.Request(f"{sidecar}/v1/encrypt", data=encrypt_body.encode(), headers=json_headers)
            ciphertext = json.load(urllib.request.urlopen(request))["data"]["ciphertext"]
            decrypt_body = json.dumps({"ciphertext": ciphertext}).encode()
            encrypts, bares, ratios, decrypts, decrypt_ratios = [], [], [], [], []
            for _ in range(ROUNDS):
                encrypts.append(load(f"{sidecar}/v1/encrypt", encrypt_body.encode(), json_headers))
                bares.append(load(f"http://127.0.0.1:{bare_port}/bare", encrypt_body.encode(), json_headers))
                ratios.append(encrypts[-1]["rps"] / bares[-1]["rps"])
                decrypts.append(load(f"{sidecar}/v1/decrypt", decrypt_body, json_headers))
                decrypt_ratios.append(decrypts[-1]["rps"] / encrypts[-1]["rps"])
            stream = asyncio.run(stream_mib_s(f"{sidecar}/v1/encrypt", {
                **auth, "Content-Type": "application/octet-stream", "X-Cifer-Id": cifer_id}))
            peak = rss_mib(procs[1].pid, "VmHWM")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=10)
    print(json.dumps({
        "encrypt_rps": round(median(r["rps"] for r in encrypts), 1),
        "encrypt_p99_ms": round(median(r["p99_ms"] for r in encrypts), 2),
        "bare_rps": round(median(r["rps"] for r in bares), 1),
        "encrypt_vs_bare_rps": round(median(ratios), 3),
        "encrypt_vs_bare_rps_goal": 0.60,
        "decrypt_rps": round(median(r["rps"] for r in decrypts), 1),
        "decrypt_rps_goal": 1000,
        "decrypt_p99_ms": round(median(r["p99_ms"] for r in decrypts), 2),
        "decrypt_vs_encrypt_rps": round(median(decrypt_ratios), 3),
        "stream_mib_s": round(stream, 1),
        "stream_peak_rss_mib": round(peak, 1),
        "stream_peak_rss_mib_goal": 128,
        **started,
        "concurrency": CONCURRENCY, "duration_s": DURATION_S, "rounds": ROUNDS,
    }, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)  # the load generator's own process
    parser.add_argument("--startup", action="store_true", help="measure startup_s and idle_rss_mib only")
    options = parser.parse_args()
    if options.load:
        spec = json.load(sys.stdin)
        print(json.dumps(asyncio.run(_load(spec["url"], base64.b64decode(spec["body"]), spec["headers"],
                                           DURATION_S, CONCURRENCY))))
    else:
        main(startup_only=options.startup)
