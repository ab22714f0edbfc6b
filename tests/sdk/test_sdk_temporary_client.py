"""A client held by no variable (issue 15, defect 11): `CiferClient(...).cifers.list()` works,
and so does its async twin, and each is still closed — no ResourceWarning, no unclosed session,
no loop thread left running. Run in a fresh interpreter in development mode (`-X dev`, every
warning shown), against the stand-in sidecar on loopback."""

from __future__ import annotations

import asyncio
import sys

from sdk_standin import API_KEY, Standin

SCRIPT = f"""
import asyncio, gc, sys, threading
from cifer import AsyncCiferClient, CiferClient

URL, KEY = sys.argv[1], {API_KEY!r}
CiferClient(api_key=KEY, base_url=URL).cifers.create(name="temp")
print("sync", [c.name for c in CiferClient(api_key=KEY, base_url=URL).cifers.list().cifers])
print("threads", sorted(t.name for t in threading.enumerate() if t.name.startswith("cifer-sdk")))


async def main():
    page = await AsyncCiferClient(api_key=KEY, base_url=URL).cifers.list()
    print("async", [c.name for c in page.cifers])
    await AsyncCiferClient(api_key=KEY, base_url=URL).cifers.list()  # the last statement: nothing awaited after

asyncio.run(main())
gc.collect()
print("done")
"""


async def _run(url: str) -> tuple[str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "dev", "-W", "always", "-c", SCRIPT, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return out.decode(), err.decode()


async def test_a_client_held_by_no_variable_works_and_is_closed(aiohttp_server):
    standin = Standin()
    server = await aiohttp_server(standin.app())
    out, err = await _run(str(server.make_url("/")).rstrip("/"))
    assert out.splitlines() == ["sync ['temp']", "threads []", "async ['temp']", "done"]
    assert err == ""  # no ResourceWarning, no "Unclosed client session", no "Unclosed connector"
