"""`cifer inference` as a real process on loopback, started as a user would start it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from ports import free_port
from proxy.processes import cifer_command, stop, wait_until_healthy

NO_LIMITS = ("--rate-limit", "models=100000/60", "--rate-limit", "register=100000/60",
             "--rate-limit", "infer=100000/60")
"""Seed 004's limits raised, for the tests that are not about them (they register and infer more
than 10 and 60 times a minute from one address)."""


@contextlib.contextmanager
def inference_process(log_dir: Path, *extra: str) -> Iterator[str]:
    """`cifer inference` on a free port with `extra` arguments; yields its URL."""
    port = free_port()
    log = (log_dir / f"inference-{port}.log").open("w+")
    proc = subprocess.Popen(cifer_command("inference", "--port", str(port), *extra), stdout=subprocess.DEVNULL,
                            stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_healthy(url, proc)
        except AssertionError:
            log.seek(0)
            raise AssertionError(f"cifer inference did not start: {log.read()[-2000:]}") from None
        yield url
    finally:
        stop(proc)
        log.close()
