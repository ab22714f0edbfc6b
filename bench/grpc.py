"""The sidecar's gRPC API (docs/grpc.md) against its REST twin in the same run. Prints one JSON object.

Workload (fixed): `cifer keyservice serve` (SQLite, file KEK, limits raised so that quotas do not
shape the numbers) and `cifer proxy --grpc-port` in front of it, as separate processes on loopback.
The unary load comes from another process, started afresh for each measurement.
- unary_encrypt_rps: gRPC `Encrypt` of 1 KiB, CONCURRENCY calls in flight on one grpc.aio channel,
  for DURATION_S.
- rest_encrypt_rps: POST /v1/encrypt of the same 1 KiB (JSON, base64) to the same sidecar from an
  aiohttp client pool of CONCURRENCY connections, for DURATION_S.
- grpc_vs_rest_rps: unary_encrypt_rps / rest_encrypt_rps of the same round. Goal >= 1.0.
- *_p99_ms: the 99th percentile latency of each; *_sidecar_cpu_us: the sidecar's CPU time (user +
  system, /proc/PID/stat) per call, which tells a slow server from a slow client (2 cores here).
Rounds interleaved (gRPC first in odd rounds, REST first in even ones), medians of ROUNDS.
- stream_mib_s: STREAM_BYTES of plaintext through `EncryptStream` in PIECE-byte chunks, the envelope
  piped chunk by chunk into `DecryptStream` on the same channel and the plaintext read and dropped
  (as tests/proxy/test_grpc_rules.py does), MiB of plaintext per second; the median of
  STREAM_ROUNDS. The client is this process, the sidecar another; both directions run at once.
- stream_peak_rss_mib: the sidecar's peak resident memory (VmHWM) after the streams, which run
  before any unary load, so the peak is theirs (and the start's). Goal <= 128.
- *_floor_cpu_us: what the runtimes cost before any CIFER code: the server's CPU per call of an
  echo of the same 1 KiB by a bare grpc.aio server (a generic handler, no protobuf) and by a bare
  aiohttp server, each in a process of its own under the same load; and *_handler_cpu_us, the
  sidecar's CPU per call less its runtime's floor: what CIFER's code costs on each path.

Usage: python bench/grpc.py [--duration-s S] [--stream-mib N]   (smaller runs while developing)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file is named grpc.py: its own directory leaves the path, or `import grpc` would find it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

import aiohttp  # noqa: E402
import aiohttp.web  # noqa: E402
import grpc  # noqa: E402

from cifer.v1 import cifer_pb2 as pb  # noqa: E402
from cifer.v1 import cifer_pb2_grpc  # noqa: E402
from ports import free_port  # noqa: E402

CONCURRENCY = 16
DURATION_S = 5.0
ROUNDS = 3
PLAINTEXT_BYTES = 1024
STREAM_BYTES = 256 * 1024**2
PIECE = 256 * 1024  # under the sidecar's gRPC message bound (max_json_body_bytes)
STREAM_ROUNDS = 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ECHO_METHOD = "/bench.Echo/Echo"


# --- the load generator, run as its own process -----------------------------------------

async def _timed(call, duration_s: float, concurrency: int) -> dict:
    """`call()` CONCURRENCY at a time for `duration_s`; each must succeed (one warm-up call first)."""
    await call()
    latencies: list[float] = []
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "calls": len(latencies)}


async def _grpc_load(spec: dict) -> dict:
    request = pb.EncryptRequest(cifer_id=spec["cifer_id"], plaintext=base64.b64decode(spec["plaintext"]))
    metadata = (("authorization", f"Bearer {spec['api_key']}"),)
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        stub = cifer_pb2_grpc.CiferServiceStub(channel)

        async def call() -> None:
            await stub.Encrypt(request, metadata=metadata)  # a failure raises grpc.RpcError: the run fails
        return await _timed(call, spec["duration_s"], CONCURRENCY)


async def _grpc_floor_load(spec: dict) -> dict:
    payload = base64.b64decode(spec["plaintext"])
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        echo = channel.unary_unary(ECHO_METHOD)
        return await _timed(lambda: echo(payload), spec["duration_s"], CONCURRENCY)


async def _http_floor_load(spec: dict) -> dict:
    payload = base64.b64decode(spec["plaintext"])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        async def call() -> None:
            async with http.post(spec["url"], data=payload) as resp:
                await resp.read()
        return await _timed(call, spec["duration_s"], CONCURRENCY)


def echo_server(kind: str, port: int) -> None:
    """A bare server of the runtime: echoes each call's bytes, nothing else."""
    if kind == "grpc":
        async def serve() -> None:
            handler = grpc.unary_unary_rpc_method_handler(_echo)
            server = grpc.aio.server(handlers=[grpc.method_handlers_generic_handler(
                ECHO_METHOD.split("/")[1], {ECHO_METHOD.split("/")[2]: handler})])
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
            await server.wait_for_termination()
        asyncio.run(serve())
    else:
        async def echo(request: aiohttp.web.Request) -> aiohttp.web.Response:
            return aiohttp.web.Response(body=await request.read())
        app = aiohttp.web.Application()
        app.router.add_post("/echo", echo)
        aiohttp.web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _rest_load(spec: dict) -> dict:
    body = json.dumps({"cifer_id": spec["cifer_id"], "plaintext": spec["plaintext"]}).encode()
    headers = {"Authorization": f"Bearer {spec['api_key']}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        async def call() -> None:
            async with http.post(spec["url"], data=body) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{spec['url']} answered {resp.status}")
        return await _timed(call, spec["duration_s"], CONCURRENCY)


LOADS = {"grpc": _grpc_load, "rest": _rest_load, "grpc-floor": _grpc_floor_load, "http-floor": _http_floor_load}


def cpu_s(pid: int) -> float:
    """The user + system CPU seconds `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def load(kind: str, spec: dict, sidecar_pid: int) -> dict:
    """One measurement by a load generator in a process of its own, so that the client's work is
    not the server's; with the sidecar's CPU time per call while it ran."""
    before = cpu_s(sidecar_pid)
    done = subprocess.run([sys.executable, __file__, "--load", kind], input=json.dumps(spec), capture_output=True,
                          text=True, timeout=300)
    if done.returncode:
        raise SystemExit(f"the {kind} load failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    result["sidecar_cpu_us"] = (cpu_s(sidecar_pid) - before) / (result["calls"] + 1) * 1e6
    return result


# --- the stream -------------------------------------------------------------------------

async def stream_mib_s(target: str, api_key: str, cifer_id: str, total: int) -> float:
    """EncryptStream piped into DecryptStream; MiB of plaintext per second, checked end to end."""
    block = os.urandom(PIECE)
    auth = (("authorization", f"Bearer {api_key}"),)
    sent, received, size, checksum = hashlib.sha256(), hashlib.sha256(), 0, b""

    async def plaintext():
        yield pb.EncryptStreamRequest(init=pb.EncryptStreamInit(cifer_id=cifer_id, total_size=total))
        for _ in range(total // PIECE):
            sent.update(block)
            yield pb.EncryptStreamRequest(chunk=block)

    async with grpc.aio.insecure_channel(target) as channel:
        stub = cifer_pb2_grpc.CiferServiceStub(channel)
        started = time.perf_counter()
        sealing = stub.EncryptStream(plaintext(), metadata=auth)

        async def envelope():
            async for answer in sealing:
                if answer.WhichOneof("data") == "chunk":
                    yield pb.DecryptStreamRequest(chunk=answer.chunk)

        async for answer in stub.DecryptStream(envelope(), metadata=auth):
            if answer.WhichOneof("data") == "chunk":
                received.update(answer.chunk)
                size += len(answer.chunk)
            elif answer.WhichOneof("data") == "complete":
                checksum = answer.complete.checksum
        elapsed = time.perf_counter() - started
    if not size == total or not received.digest() == sent.digest() == checksum:
        raise RuntimeError("the stream did not round-trip")
    return total / 1024**2 / elapsed


# --- the benchmark ----------------------------------------------------------------------

def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cifer.cli", *args]


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[3:5]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def floor_cpu_us(kind: str, spec: dict) -> float:
    """The median CPU per call of a bare `kind` server (echo_server) under the unary load, of ROUNDS."""
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--echo-server", kind, str(port)])
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} echo server did not start")
            time.sleep(0.05)
        spec = {**spec, "target": f"127.0.0.1:{port}", "url": f"http://127.0.0.1:{port}/echo"}
        return statistics.median(load(f"{kind}-floor", spec, server.pid)["sidecar_cpu_us"] for _ in range(ROUNDS))
    finally:
        server.terminate()
        server.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main(duration_s: float, stream_bytes: int) -> None:
    median = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        keyservice = cli("keyservice", "--data-dir", tmp, "--rate-limit", "decrypt=1000000000/60",
                         "--rate-limit", "create=1000/3600", "--rate-limit", "encrypt=1000000000/60")
        made = subprocess.run([*keyservice, "apikey", "create", "--owner", "usr_bench", "--scope", "cifer:create",
                               "--scope", "encrypt", "--scope", "decrypt"], check=True, capture_output=True, text=True)
        api_key = json.loads(made.stdout)["key"]
        ks_port, rest_port, grpc_port = free_port(), free_port(), free_port()
        keyservice_url = f"http://127.0.0.1:{ks_port}"
        procs = [subprocess.Popen([*keyservice, "serve", "--port", str(ks_port)], stdout=subprocess.DEVNULL)]
        try:
            wait_ready(f"{keyservice_url}/v1/health", procs[0])
            procs.append(subprocess.Popen(cli("proxy", "--keyservice-url", keyservice_url, "--port", str(rest_port),
                                              "--grpc-port", str(grpc_port)), stdout=subprocess.DEVNULL))
            sidecar, target = f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
            wait_ready(f"{sidecar}/metrics", procs[1])
            request = urllib.request.Request(f"{sidecar}/v1/cifers", data=b'{"name": "bench"}', headers={
                "Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
            cifer_id = json.load(urllib.request.urlopen(request))["data"]["cifer_id"]

            streams = [asyncio.run(stream_mib_s(target, api_key, cifer_id, stream_bytes)) for _ in range(STREAM_ROUNDS)]
            peak = peak_rss_mib(procs[1].pid)  # before any unary load: the streams' peak

            spec = {"cifer_id": cifer_id, "api_key": api_key, "duration_s": duration_s, "target": target,
                    "url": f"{sidecar}/v1/encrypt", "plaintext": base64.b64encode(os.urandom(PLAINTEXT_BYTES)).decode()}
            grpcs, rests = [], []
            for n in range(ROUNDS):
                for kind in (("grpc", "rest") if n % 2 == 0 else ("rest", "grpc")):
                    (grpcs if kind == "grpc" else rests).append(load(kind, spec, procs[1].pid))
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=10)
    floors = {kind: floor_cpu_us(kind, spec) for kind in ("grpc", "http")}
    grpc_cpu, rest_cpu = median(r["sidecar_cpu_us"] for r in grpcs), median(r["sidecar_cpu_us"] for r in rests)
    print(json.dumps({
        "unary_encrypt_rps": round(median(r["rps"] for r in grpcs), 1),
        "rest_encrypt_rps": round(median(r["rps"] for r in rests), 1),
        "grpc_vs_rest_rps": round(median(g["rps"] / r["rps"] for g, r in zip(grpcs, rests)), 3),
        "grpc_vs_rest_rps_goal": 1.0,
        "grpc_p99_ms": round(median(r["p99_ms"] for r in grpcs), 2),
        "rest_p99_ms": round(median(r["p99_ms"] for r in rests), 2),
        "grpc_sidecar_cpu_us": round(grpc_cpu),
        "rest_sidecar_cpu_us": round(rest_cpu),
        "grpc_floor_cpu_us": round(floors["grpc"]),
        "http_floor_cpu_us": round(floors["http"]),
        "grpc_handler_cpu_us": round(grpc_cpu - floors["grpc"]),
        "rest_handler_cpu_us": round(rest_cpu - floors["http"]),
        "stream_mib_s": round(median(streams), 1),
        "stream_peak_rss_mib": round(peak, 1),
        "stream_peak_rss_mib_goal": 128,
        "concurrency": CONCURRENCY, "duration_s": duration_s, "rounds": ROUNDS, "plaintext_bytes": PLAINTEXT_BYTES,
        "stream_mib": stream_bytes // 1024**2, "stream_piece_kib": PIECE // 1024, "stream_rounds": STREAM_ROUNDS,
    }, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", choices=tuple(LOADS), help=argparse.SUPPRESS)  # the load generator's process
    parser.add_argument("--echo-server", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)  # a floor
    parser.add_argument("--duration-s", type=float, default=DURATION_S, help="seconds per unary measurement")
    parser.add_argument("--stream-mib", type=int, default=STREAM_BYTES // 1024**2, help="MiB per stream")
    options = parser.parse_args()
    if options.load:
        spec = json.load(sys.stdin)
        print(json.dumps(asyncio.run(LOADS[options.load](spec))))
    elif options.echo_server:
        echo_server(options.echo_server[0], int(options.echo_server[1]))
    else:
        main(options.duration_s, options.stream_mib * 1024**2)
