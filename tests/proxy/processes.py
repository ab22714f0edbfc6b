"""Real processes on loopback for the sidecar's tests: `cifer keyservice serve` and `cifer
proxy` started as a user would start them, and a small HTTP client that reads every answer."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from cifer import apikeys
from ports import free_port

ALL_SCOPES = ("cifer:read", "cifer:create", "cifer:delete", "encrypt", "decrypt")


def cifer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cifer.cli", *args]


def wait_until_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60.0) -> dict:
    """The first 200 answer of `url`/v1/health, decoded; fails if `proc` exits or time runs out."""
    import urllib.request
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[3:5]} exited early with {proc.returncode}: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as resp:
                if resp.status == 200:
                    return json.load(resp)
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy in time")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclasses.dataclass
class KeyServiceProcess:
    data_dir: Path
    extra: tuple[str, ...]
    serve_args: tuple[str, ...] = ()
    url: str = ""
    proc: subprocess.Popen | None = None

    def command(self, *args: str) -> list[str]:
        return cifer_command("keyservice", "--data-dir", str(self.data_dir), *self.extra, *args)

    def api_key(self, owner: str, scopes=ALL_SCOPES) -> str:
        scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
        made = subprocess.run(self.command("apikey", "create", "--owner", owner, *scope_args),
                              check=True, capture_output=True, text=True, timeout=60)
        return json.loads(made.stdout)["key"]

    def start(self) -> None:
        """Serve on a free port; started again after `stop()`, on the same port (the same URL)."""
        port = int(self.url.rsplit(":", 1)[1]) if self.url else free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(self.command("serve", "--port", str(port), *self.serve_args), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        wait_until_healthy(self.url, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@contextlib.contextmanager
def keyservice_process(data_dir: Path, *extra: str) -> Iterator[KeyServiceProcess]:
    service = KeyServiceProcess(data_dir, extra)
    subprocess.run(service.command("migrate"), check=True, capture_output=True, timeout=60)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@contextlib.contextmanager
def sidecar_process(keyservice_url: str, *extra: str, env: dict[str, str] | None = None,
                    pids: list[int] | None = None) -> Iterator[str]:
    """`cifer proxy` in front of `keyservice_url`; yields its URL (and appends its pid to `pids`).
    Without gRPC unless `extra` names a `--grpc-port` (its default, 9090, would be shared by every test)."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "CIFER_API_KEY"} | (env or {})
    grpc = () if any(arg.startswith("--grpc-port") for arg in extra) else ("--grpc-port", "0")
    proc = subprocess.Popen(cifer_command("proxy", "--keyservice-url", keyservice_url, "--port", str(port), *grpc,
                                          *extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment)
    url = f"http://127.0.0.1:{port}"
    if pids is not None:
        pids.append(proc.pid)
    try:
        _wait_listening(url, proc)
        yield url
    finally:
        stop(proc)


def _wait_listening(url: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Ready when it answers /metrics, which asks nothing of the key service (health does, and a
    key service behind a relay in the test's own event loop could not answer a blocking wait)."""
    import urllib.request
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"cifer proxy exited early with {proc.returncode}: {proc.stderr.read()}")
        try:
            urllib.request.urlopen(f"{url}/metrics", timeout=2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("cifer proxy did not answer in time")


class Api:
    """Calls to a CIFER API with one credential; every answer read whole, JSON or bytes."""

    def __init__(self, http: aiohttp.ClientSession, url: str, key: str | None) -> None:
        self.http, self.url = http, url
        self.auth = {"Authorization": f"Bearer {key}"} if key else {}

    async def call(self, method: str, path: str, *, expect: int | None = None, headers=None, **kwargs):
        async with self.http.request(method, self.url + path, headers={**self.auth, **(headers or {})}, **kwargs) as resp:
            raw = await resp.read()
            body = json.loads(raw) if resp.content_type == "application/json" else raw
            if expect is not None:
                assert resp.status == expect, body
            return resp, body

    async def new_cifer(self, name: str = "k", **fields) -> str:
        _, body = await self.call("POST", "/v1/cifers", json={"name": name, **fields}, expect=201)
        return body["data"]["cifer_id"]


def lending_sidecar(*extra: str, lends: bool = True, keyservice_url: str = "http://127.0.0.1:1"
                    ) -> tuple[subprocess.Popen, str]:
    """A started `cifer proxy` on loopback (or as `extra` says), gRPC off, lending a pod's API key
    ($CIFER_API_KEY, as an injected sidecar lends its pod's identity) unless `lends` is False; by
    default in front of no key service (for what needs none: stopping it). The process and its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CIFER_API_KEY"}
    if lends:
        env["CIFER_API_KEY"] = apikeys.generate_api_key(live=False)
    proc = subprocess.Popen(cifer_command("proxy", "--keyservice-url", keyservice_url, "--port", str(port),
                                          "--grpc-port", "0", *extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    _wait_listening(url, proc)
    return proc, url
