"""`cifer keyservice serve` as an operator runs it: a real process on a data directory with a
real SQLite file, its stdout (the audit stream) kept in a file, and the admin commands beside it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request

from ports import free_port
from proxy.processes import stop, wait_until_healthy

SCOPES = ("cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt")


def cli(data, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data), *args],
                          check=False, capture_output=True, text=True, timeout=60)


def verify(data, *args: str) -> subprocess.CompletedProcess:
    return cli(data, "audit", "verify", *args)


class Service:
    """`cifer keyservice serve` on a data directory, its stdout (the audit stream) in a file."""

    def __init__(self, data, *, interval_s: float = 0.2) -> None:
        self.data = data
        self.port = free_port()
        self.stream = data.parent / f"stream-{self.port}.jsonl"
        with self.stream.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data), "serve",
                 "--port", str(self.port), "--audit-checkpoint-interval-s", str(interval_s),
                 "--rate-limit", "create=1000/3600"],
                stdout=out, stderr=subprocess.PIPE, text=True)
        wait_until_healthy(f"http://127.0.0.1:{self.port}", self.proc)

    def call(self, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
        return call(self.port, method, path, key, body)

    def create_cifers(self, key: str, n: int) -> list[str]:
        ids = []
        for i in range(n):
            status, body = self.call("POST", "/v1/cifers", key, {"name": f"k{i}"})
            assert status == 201, body
            ids.append(body["data"]["cifer_id"])
        return ids

    def stop(self) -> str:
        stop(self.proc)
        err = self.proc.stderr.read()
        assert "Traceback" not in err, err
        return err


def api_key(data, owner: str = "usr_alice", scopes=SCOPES) -> str:
    made = cli(data, "apikey", "create", "--owner", owner, *[f"--scope={s}" for s in scopes])
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)["key"]


def raw_sql(data, *statements: str) -> list:
    with sqlite3.connect(data / "cifer.db") as db:
        rows = []
        for statement in statements:
            rows = db.execute(statement).fetchall()
        return rows


def downgrade(data, revision: str) -> None:
    """The data directory's database taken back to schema `revision` by the migrations' own downgrades."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from cifer_keyservice.db.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with create_engine(f"sqlite:///{data / 'cifer.db'}").begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def call(port: int, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    """One JSON call to a server on loopback with an API key: (status, decoded body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
