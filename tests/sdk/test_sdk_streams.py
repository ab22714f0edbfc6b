"""The SDK's binary streams (seed §10.2) over real HTTP on loopback.

The server side is `tests/sdk_standin.py`, standing in for the sidecar: it answers while it
still reads the upload, and, as the sidecar does, it reports a chunk that fails verification
after its answer began by aborting the connection before the terminating chunk.
"""

from __future__ import annotations

import asyncio
import io
import json
import os

import pytest
from sdk_standin import TRAILER, error, toy_envelope

from cifer import AsyncCiferClient, InvalidCiphertextError, NotFoundError, ServiceUnavailableError, StreamError


@pytest.fixture
async def cifer_id(client):
    return (await client.cifers.create(name="files")).id


async def collect(stream) -> bytes:
    out = bytearray()
    async with stream as opened:
        async for chunk in opened:
            out += chunk
    return bytes(out)


async def test_encrypt_stream_sends_the_binary_request_and_yields_the_envelope(client, standin, cifer_id):
    data = os.urandom(300_000)
    async with client.encrypt_stream(cifer_id, io.BytesIO(data), metadata={"filename": "é.bin"}) as encrypted:
        body = b"".join([chunk async for chunk in encrypted])
        assert (encrypted.cifer_id, encrypted.key_version, encrypted.algorithm) == (cifer_id, 1, "ML-KEM-768")
    assert body == toy_envelope(cifer_id, data, {"filename": "é.bin"})
    (sent,) = standin.seen("POST", "/v1/encrypt")
    assert sent.headers["Content-Type"] == "application/octet-stream"
    assert sent.headers["X-Cifer-Id"] == cifer_id
    assert json.loads(sent.headers["X-Cifer-Metadata"]) == {"filename": "é.bin"}
    assert sent.headers["X-Idempotency-Key"].startswith("idem_")
    assert sent.headers["Transfer-Encoding"] == "chunked" and sent.streamed_bytes == len(data)


async def test_decrypt_stream_yields_the_plaintext_and_reads_the_headers(client, cifer_id):
    data = os.urandom(2 * 1024 * 1024 + 17)
    sealed = toy_envelope(cifer_id, data, {"k": "v"}, key_version=3)
    async with client.decrypt_stream(io.BytesIO(sealed)) as decrypted:
        assert (decrypted.cifer_id, decrypted.key_version, decrypted.metadata) == (cifer_id, 3, {"k": "v"})
        assert b"".join([chunk async for chunk in decrypted]) == data


@pytest.mark.parametrize("kind", ["bytes", "sync iterable", "async iterable"])
async def test_any_source_of_bytes_can_be_streamed(client, cifer_id, kind):
    parts = [b"a" * 70_000, b"", b"b" * 10]

    async def agen():
        for part in parts:
            yield part

    source = {"bytes": b"".join(parts), "sync iterable": iter(parts), "async iterable": agen()}[kind]
    assert await collect(client.encrypt_stream(cifer_id, source)) == toy_envelope(cifer_id, b"".join(parts))


async def test_a_file_is_read_in_64_kib_pieces(client, cifer_id):
    sizes = []

    class Reader(io.BytesIO):
        def read(self, size=-1):
            sizes.append(size)
            return super().read(size)

    await collect(client.encrypt_stream(cifer_id, Reader(b"x" * 200_000)))
    assert set(sizes) == {64 * 1024}


async def test_the_answer_streams_while_the_body_is_still_uploading(client, cifer_id):
    """The source sends its second piece only after the first output arrived: without
    concurrent upload and download this would never finish."""
    first_output = asyncio.Event()

    async def source():
        yield b"first piece"
        await asyncio.wait_for(first_output.wait(), timeout=10)
        yield b"second piece"

    out = bytearray()
    async with client.encrypt_stream(cifer_id, source()) as encrypted:
        async for chunk in encrypted:
            out += chunk
            first_output.set()
    assert bytes(out) == toy_envelope(cifer_id, b"first piecesecond piece")


async def test_a_stream_cut_off_mid_decryption_raises_and_never_ends_quietly(client, cifer_id):
    data = os.urandom(1024 * 1024)
    tampered = toy_envelope(cifer_id, data)[: -len(TRAILER)] + b"BAD!"
    received = bytearray()
    with pytest.raises(StreamError) as caught:
        async with client.decrypt_stream(io.BytesIO(tampered)) as decrypted:
            async for chunk in decrypted:
                received += chunk
    assert caught.value.code == "STREAM_ABORTED"
    # Here every payload byte arrived before the bad tag was found: only the missing end tells.
    assert bytes(received) == data[: len(received)] and len(received) > 0


async def test_a_truncated_envelope_raises_too(client, cifer_id):
    truncated = toy_envelope(cifer_id, os.urandom(500_000))[:-100_000]
    with pytest.raises(StreamError):
        await collect(client.decrypt_stream(io.BytesIO(truncated)))


async def test_an_encryption_cut_off_by_the_server_raises(client, standin, cifer_id):
    standin.abort_encrypt_after_bytes = 64 * 1024
    with pytest.raises(StreamError):
        await collect(client.encrypt_stream(cifer_id, io.BytesIO(os.urandom(1024 * 1024))))


async def test_refusals_before_the_stream_are_typed_errors(client, cifer_id):
    with pytest.raises(NotFoundError):
        await collect(client.encrypt_stream("cif_nosuchcifer00", io.BytesIO(b"data")))
    with pytest.raises(InvalidCiphertextError):
        await collect(client.decrypt_stream(io.BytesIO(b"not an envelope\n" * 10)))


async def test_a_failing_source_raises_its_own_error(client, cifer_id):
    async def source():
        yield b"x" * 1000
        raise OSError("disk read failed")

    with pytest.raises(OSError, match="disk read failed"):
        await collect(client.encrypt_stream(cifer_id, source()))


async def test_a_body_already_partly_sent_is_not_retried(client, standin, sleeps, cifer_id):
    standin.fail_next("POST", "/v1/encrypt", lambda: error("SERVICE_UNAVAILABLE", 503), times=3)

    async def source():
        yield b"taken from the source"
        await asyncio.sleep(10)  # the answer comes first

    with pytest.raises(ServiceUnavailableError):
        await collect(client.encrypt_stream(cifer_id, source()))
    assert len(standin.seen("POST", "/v1/encrypt")) == 1 and sleeps == []


async def test_a_bytes_body_can_be_sent_again(client, standin, sleeps, cifer_id):
    standin.fail_next("POST", "/v1/encrypt", lambda: error("SERVICE_UNAVAILABLE", 503), times=2)
    assert await collect(client.encrypt_stream(cifer_id, b"data")) == toy_envelope(cifer_id, b"data")
    assert len(standin.seen("POST", "/v1/encrypt")) == 3 and len(sleeps) == 2
    assert len({r.headers["X-Idempotency-Key"] for r in standin.seen("POST", "/v1/encrypt")}) == 1


async def test_leaving_early_closes_the_call_and_the_client_still_works(client, cifer_id):
    async with client.decrypt_stream(io.BytesIO(toy_envelope(cifer_id, os.urandom(1024 * 1024)))) as decrypted:
        async for _ in decrypted:
            break
    assert (await client.decrypt(toy_envelope(cifer_id, b"ok"))).plaintext == b"ok"


def test_text_is_not_a_body():
    client = AsyncCiferClient(base_url="http://127.0.0.1:1")
    with pytest.raises(TypeError):
        client.encrypt_stream("cif_abcdefghijkl", "some text")
    with pytest.raises(TypeError):
        client.decrypt_stream(12)


async def test_an_answer_whose_end_cannot_be_checked_is_refused():
    """A raw server answering 200 with neither chunking nor a length: its cut-off would look
    like an end, so the SDK refuses it before yielding anything."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\npartial")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with AsyncCiferClient(base_url=f"http://127.0.0.1:{port}") as client:
            with pytest.raises(StreamError):
                await collect(client.decrypt_stream(b"envelope"))
    finally:
        server.close()
        await server.wait_closed()
