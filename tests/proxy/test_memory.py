"""Acceptance: 2 GiB through the sidecar in bounded memory. The envelope the sidecar streams
out of /v1/encrypt is streamed straight back into /v1/decrypt, so both directions run at once;
the sidecar process's resident memory is sampled throughout and must stay under 128 MiB."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from proxy.processes import Api, sidecar_process

TOTAL = 2 * 1024**3
BLOCK = 1024 * 1024
LIMIT_MIB = 128


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


async def test_two_gib_stream_through_the_sidecar_in_bounded_memory(http, key_service):
    pids: list[int] = []
    with sidecar_process(key_service.url, pids=pids) as url:
        api = Api(http, url, key_service.api_key("usr_alice"))
        cifer_id = await api.new_cifer()
        block = os.urandom(BLOCK)
        sent, received = hashlib.sha256(), hashlib.sha256()
        peak = [rss_mib(pids[0])]

        async def plaintext():
            for _ in range(TOTAL // BLOCK):
                sent.update(block)
                yield block

        async def sample():
            while True:
                peak.append(rss_mib(pids[0]))
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        try:
            async with http.post(url + "/v1/encrypt", data=plaintext(), headers={
                    **api.auth, "Content-Type": "application/octet-stream", "X-Cifer-Id": cifer_id}) as sealed:
                assert sealed.status == 200

                async def envelope():
                    async for piece in sealed.content.iter_chunked(BLOCK):
                        yield piece

                async with http.post(url + "/v1/decrypt", data=envelope(), headers={
                        **api.auth, "Content-Type": "application/octet-stream"}) as opened:
                    assert opened.status == 200
                    size = 0
                    async for piece in opened.content.iter_chunked(BLOCK):
                        received.update(piece)
                        size += len(piece)
        finally:
            sampler.cancel()
        high_water = rss_mib(pids[0], "VmHWM")
    assert size == TOTAL and received.digest() == sent.digest()
    assert max(peak) < LIMIT_MIB and high_water < LIMIT_MIB, (max(peak), high_water)
