"""A running `cifer dev` (sidecar and key service in one process, as a user starts it) on a
loopback port, for tests that drive it from outside: the SDKs in every language, the CLI.

`dev_server` is a module-scoped fixture (a pytest plugin, see tests/conftest.py): one process per
test module, since starting one costs a migration and a KEK."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from cifer import apikeys
from ports import free_port
from proxy.processes import stop, wait_until_healthy


@dataclasses.dataclass(frozen=True)
class DevServer:
    url: str  # http://127.0.0.1:PORT, the sidecar's API
    api_key: str  # the CIFER_API_KEY it was started with: an admin key of the developer
    data_dir: Path

    def environment(self) -> dict[str, str]:
        """This process's environment pointed at the server, as an SDK reads it."""
        return {**os.environ, "CIFER_PROXY_URL": self.url, "CIFER_API_KEY": self.api_key}


@contextlib.contextmanager
def cifer_dev(data_dir: Path, *extra: str, api_key: str | None = None) -> Iterator[DevServer]:
    """`cifer dev --port P --data-dir D EXTRA...` until the block ends (stopped with SIGINT); without
    gRPC unless EXTRA names a `--grpc-port` (its default, 9090, would be shared by every test)."""
    api_key = api_key or apikeys.generate_api_key(live=False)
    port = free_port()
    grpc = () if any(arg.startswith("--grpc-port") for arg in extra) else ("--grpc-port", "0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cifer.cli", "dev", "--port", str(port), "--data-dir", str(data_dir), *grpc, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "CIFER_API_KEY": api_key},
    )
    server = DevServer(f"http://127.0.0.1:{port}", api_key, data_dir)
    try:
        wait_until_healthy(server.url, proc)
        yield server
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with cifer_dev(tmp_path_factory.mktemp("dev") / "data") as server:
        yield server


def api_call(server: DevServer, method: str, path: str, body: object = None, *,
             api_key: str | None = None) -> tuple[int, dict]:
    """(status, JSON body) of one call to the server's API as JSON, with its admin key or `api_key`."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {api_key or server.api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def ok(answer: tuple[int, dict], schema: dict | None = None, status: int = 200) -> dict:
    """The `data` of a successful answer of `api_call`, validated against `schema` when one is given."""
    code, body = answer
    assert code == status, body
    assert body["success"] is True
    if schema is not None:
        jsonschema.validate(body["data"], schema)
    return body["data"]


def refused(answer: tuple[int, dict], status: int, code: str) -> dict:
    """The error of an answer of `api_call` that must be `status` with the seed's `code`."""
    got, body = answer
    assert (got, body["success"], body["error"]["code"]) == (status, False, code), body
    return body["error"]
