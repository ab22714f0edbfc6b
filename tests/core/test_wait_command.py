"""`cifer wait` (cifer/commands/wait.py), the injected sidecar's start hook: it returns 0 once a URL
on loopback answers 200, 1 when the timeout passes first, and takes no URL off loopback."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time

from ports import free_port


def wait(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cifer.cli", "wait", *args], capture_output=True, text=True,
                          timeout=timeout_s)


class Health(http.server.BaseHTTPRequestHandler):
    ready_at = 0.0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200 if time.monotonic() >= Health.ready_at else 503)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_it_returns_once_the_sidecar_answers_200():
    port = free_port()
    Health.ready_at = time.monotonic() + 1.5  # not ready at first: 503s, then 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = wait("--url", f"http://127.0.0.1:{port}/v1/health", "--timeout-s", "30")
        assert done.returncode == 0, done.stdout + done.stderr
        assert time.monotonic() >= Health.ready_at  # it did wait for the 200
    finally:
        server.shutdown()


def test_it_fails_when_nothing_answers_in_time():
    done = wait("--url", f"http://127.0.0.1:{free_port()}/v1/health", "--timeout-s", "0.3")
    assert done.returncode == 1 and "did not answer 200 within 0.3 s" in done.stdout


def test_it_takes_no_url_off_loopback():
    done = wait("--url", "http://example.com/v1/health")
    assert done.returncode == 2 and "on loopback" in done.stderr
