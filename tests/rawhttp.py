"""HTTP/1.1 by hand over a raw socket: what an attacker sends is exactly what the server reads
(any Host, any bytes in a header, a Content-Length with no body behind it)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterable


@dataclasses.dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    closed: bool  # the server closed the connection after this answer

    def json(self):
        return json.loads(self.body)


def request_head(method: str, path: str, host: str | bytes, headers: Iterable[tuple[str, str | bytes]] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + (host.encode() if isinstance(host, str) else host)]
    for name, value in headers:
        lines.append(name.encode() + b": " + (value.encode() if isinstance(value, str) else value))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def exchange(port: int, head: bytes, body: bytes = b"", *, timeout_s: float = 10.0) -> RawAnswer:
    """Sends `head` and `body` to 127.0.0.1:`port`, reads one answer, then waits (at most
    `timeout_s`) to see whether the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:  # while the answer is read: a streamed answer may begin before the body ends
        writer.write(head + body)
        await writer.drain()

    sending = asyncio.ensure_future(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout_s)
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), timeout_s)) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            answer = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout_s)
        else:  # chunked
            answer = b""
            while (size := int((await reader.readline()).strip(), 16)) > 0:
                answer += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
        try:
            closed = await asyncio.wait_for(reader.read(1), timeout_s) == b""
        except TimeoutError:
            closed = False
        except ConnectionError:  # reset: closed too
            closed = True
        return RawAnswer(status, headers, answer, closed)
    finally:
        sending.cancel()
        writer.close()
