"""Acceptance: two real key-service processes on one PostgreSQL database share one rate limit.

Both replicas run `cifer keyservice ... serve` with the same KEK file and `--rate-limit`; calls
alternate between them, and the call after the limit is refused by whichever gets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from keyservice.databases import temporary_postgres_database
from ports import free_port
from proxy.processes import wait_until_healthy

LIMIT = 5
WINDOW_S = 86400  # a day: the test cannot straddle two windows unless it runs across midnight UTC


@pytest.fixture
def shared_database():
    with temporary_postgres_database("cifer_replicas") as dsn:
        yield dsn


def cli(data_dir, dsn: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data_dir), "--database-url", dsn,
            "--rate-limit", f"get={LIMIT}/{WINDOW_S}", *args]


def request(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.load(err)



def test_two_replicas_on_one_database_share_the_limit(tmp_path, shared_database):
    data_dir = tmp_path / "data"
    subprocess.run(cli(data_dir, shared_database, "migrate"), check=True, capture_output=True, timeout=60)
    create_key = cli(data_dir, shared_database, "apikey", "create", "--owner", "usr_x", "--scope", "cifer:read")
    made = subprocess.run(create_key, check=True, capture_output=True, text=True, timeout=60)
    auth = {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}
    procs, ports = [], []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(subprocess.Popen(cli(data_dir, shared_database, "serve", "--port", str(port)),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                          env={k: v for k, v in os.environ.items() if k != "CIFER_REDIS_URL"}))
            ports.append(port)
        for port, proc in zip(ports, procs):
            wait_until_healthy(f"http://127.0.0.1:{port}", proc)
        for n in range(LIMIT):
            status, headers, _ = request(ports[n % 2], "/v1/cifers", auth)
            assert status == 200
            assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == (str(LIMIT), str(LIMIT - n - 1))
        for port in ports:  # over the limit, whichever replica is asked
            status, headers, body = request(port, "/v1/cifers", auth)
            assert status == 429 and body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
            assert 1 <= int(headers["Retry-After"]) <= WINDOW_S
            assert body["error"]["details"] == {"limit": LIMIT, "window": "1 day",
                                                "retry_after": int(headers["Retry-After"])}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
