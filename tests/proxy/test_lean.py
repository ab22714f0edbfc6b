"""Acceptance: the sidecar is lean. `cifer proxy`, started as a real process, serves health, an
encryption and a decryption without ever importing the key service, its database layer, the
operator's Kubernetes libraries or TenSEAL. Python's own import log (`-X importtime`, set here
through PYTHONPROFILEIMPORTTIME) records every module the process loads, at start and later."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from ports import free_port
from proxy.processes import Api, cifer_command, stop, wait_until_healthy

NEVER_IN_THE_SIDECAR = frozenset({"cifer_keyservice", "sqlalchemy", "alembic", "kopf", "kubernetes", "tenseal",
                                 "authlib", "argon2"})


def imported_modules(import_log: str) -> set[str]:
    """Every module an `-X importtime` log names ("import time: self | cumulative | name")."""
    return {line.rsplit("|", 1)[1].strip() for line in import_log.splitlines() if line.startswith("import time:")}


async def test_the_sidecar_imports_no_key_service_database_operator_or_tenseal(key_service, http, tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if k != "CIFER_API_KEY"} | {"PYTHONPROFILEIMPORTTIME": "1"}
    log = tmp_path / "imports.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(cifer_command("proxy", "--keyservice-url", key_service.url, "--port", str(port),
                                              "--grpc-port", str(free_port())),  # gRPC on: it too stays lean
                                stdout=subprocess.DEVNULL, stderr=stderr, env=environment)
        try:
            wait_until_healthy(url, proc)
            key = key_service.api_key("usr_alice")
            cifer_id = await Api(http, key_service.url, key).new_cifer()
            sidecar = Api(http, url, key)
            plaintext = base64.b64encode(b"lean").decode()
            _, sealed = await sidecar.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": plaintext},
                                           expect=200)
            _, opened = await sidecar.call("POST", "/v1/decrypt", json={"ciphertext": sealed["data"]["ciphertext"]},
                                           expect=200)
            assert opened["data"]["plaintext"] == plaintext
        finally:
            stop(proc)
    modules = imported_modules(log.read_text())
    assert "cifer_proxy.app" in modules  # the log is the sidecar's
    loaded = sorted(m for m in modules if m.split(".", 1)[0] in NEVER_IN_THE_SIDECAR)
    assert not loaded, f"the sidecar loaded {loaded}"
