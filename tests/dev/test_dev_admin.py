"""`cifer dev`'s key is an admin (issue 15): the only key on a developer's machine reads the
whole audit log through the sidecar, a key of an older `cifer dev` data directory included."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest
from keyservice.served import call
from ports import free_port
from proxy.processes import wait_until_healthy

from cifer import apikeys

OLD_DEV_SCOPES = ["cifer:create", "cifer:delete", "cifer:read", "decrypt", "encrypt"]


@pytest.fixture
def dev(tmp_path):
    procs = []

    def start(key: str) -> int:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cifer.cli", "dev", "--port", str(port), "--data-dir", str(tmp_path / "data"),
             "--grpc-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "CIFER_API_KEY": key})
        procs.append(proc)
        wait_until_healthy(f"http://127.0.0.1:{port}", proc)
        return port

    def stop() -> None:
        proc = procs[-1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "Traceback" not in err

    start.stop = stop
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def other_key(data) -> str:
    made = subprocess.run([sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data), "apikey", "create",
                           "--owner", "usr_other", "--scope", "cifer:create", "--scope", "cifer:read"],
                          check=True, capture_output=True, text=True, timeout=60)
    return json.loads(made.stdout)["key"]


def test_the_dev_key_reads_every_owners_audit_records(dev, tmp_path):
    key = apikeys.generate_api_key(live=False)
    port = dev(key)
    status, created = call(port, "POST", "/v1/cifers", key, {"name": "mine"})
    assert status == 201
    other = other_key(tmp_path / "data")
    status, theirs = call(port, "POST", "/v1/cifers", other, {"name": "theirs"})
    assert status == 201
    status, body = call(port, "GET", "/v1/audit", key)
    assert status == 200, body
    owners = {(e["cifer_id"], e["principal"]) for e in body["data"]["audit_logs"] if e["operation"] == "create"}
    assert owners == {(created["data"]["cifer_id"], "usr_dev"), (theirs["data"]["cifer_id"], "usr_other")}
    status, body = call(port, "GET", "/v1/audit", other)  # the other key reads its own cifer's records only
    assert status == 200 and {e["cifer_id"] for e in body["data"]["audit_logs"]} == {theirs["data"]["cifer_id"]}


def test_a_dev_key_from_an_older_data_directory_becomes_admin(dev, tmp_path):
    key = apikeys.generate_api_key(live=False)
    dev(key)
    dev.stop()
    with sqlite3.connect(tmp_path / "data" / "cifer.db") as db:  # as an older `cifer dev` stored it
        db.execute("UPDATE api_keys SET scopes = ? WHERE owner_id = 'usr_dev'", (json.dumps(OLD_DEV_SCOPES),))
    port = dev(key)
    other = other_key(tmp_path / "data")
    assert call(port, "POST", "/v1/cifers", other, {"name": "theirs"})[0] == 201
    status, body = call(port, "GET", "/v1/audit", key)
    assert status == 200 and {e["principal"] for e in body["data"]["audit_logs"]} == {"usr_other"}
