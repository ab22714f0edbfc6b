"""`cifer dev` as a user starts it: a real process on a real port on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from cifer import apikeys
from ports import free_port
from proxy.processes import wait_until_healthy


@pytest.fixture
def dev(tmp_path):
    """Starts `cifer dev` with the given extra arguments; always stops it."""
    procs = []

    def start(*args: str, env: dict | None = None):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cifer.cli", "dev", "--port", str(port), "--data-dir", str(tmp_path / "data"),
             *(() if any(a.startswith("--grpc-port") for a in args) else ("--grpc-port", "0")), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        procs.append(proc)
        return port, proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dev_answers_health_on_the_port_it_was_given_and_stops_cleanly_on_ctrl_c(dev, tmp_path):
    port, proc = dev()
    body = wait_until_healthy(f"http://127.0.0.1:{port}", proc)
    assert body["success"] is True and body["data"]["status"] == "healthy"
    assert body["meta"]["request_id"]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "Traceback" not in err
    printed = [word for word in out.split() if word.startswith("sk_test_")]
    assert len(printed) == 1 and apikeys.is_well_formed(printed[0])  # generated and shown once
    kek = tmp_path / "data" / "kek.key"
    assert kek.stat().st_mode & 0o777 == 0o600


def test_dev_with_a_given_api_key_prints_no_key(dev):
    key = apikeys.generate_api_key(live=False)
    port, proc = dev(env={"CIFER_API_KEY": key})
    wait_until_healthy(f"http://127.0.0.1:{port}", proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert "sk_test_" not in out


def test_dev_refuses_a_malformed_api_key(dev):
    port, proc = dev("--api-key", "sk_test_short")
    _, err = proc.communicate(timeout=15)
    assert proc.returncode != 0
    assert "API key must be" in err and "sk_test_short" not in err


def test_dev_refuses_a_kek_file_with_loose_permissions(dev, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    kek = data / "kek.key"
    kek.write_bytes(os.urandom(32))
    kek.chmod(0o644)
    port, proc = dev()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode != 0
    assert "0600" in err and "Traceback" not in err


def test_dev_uses_the_named_hsm_token_and_writes_no_file_kek(dev, softhsm, tmp_path):
    port, proc = dev(
        "--pkcs11-library", softhsm.library_path, "--pkcs11-token", softhsm.token_label,
        env={**softhsm.env, "CIFER_PKCS11_PIN": softhsm.pin},
    )
    body = wait_until_healthy(f"http://127.0.0.1:{port}", proc)
    assert body["data"]["checks"] == {"keyservice": "ok"}  # the key service behind it opened the token
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert not (tmp_path / "data" / "kek.key").exists()


def test_dev_with_a_wrong_pin_stops_and_never_falls_back_to_a_file_kek(dev, softhsm, tmp_path):
    port, proc = dev(
        "--pkcs11-library", softhsm.library_path, "--pkcs11-token", softhsm.token_label,
        env={**softhsm.env, "CIFER_PKCS11_PIN": "987654"},
    )
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert "wrong PIN" in err and "987654" not in err and "Traceback" not in err
    assert not (tmp_path / "data" / "kek.key").exists()
