"""POST /v1/decrypt (seed §4.4): only the envelope header (about 1.2 KB) goes to the key
service, with the caller's credential; the payload is opened here and never leaves the pod.
The data key lives for this request only.

Binary decryption streams: plaintext is released one verified chunk at a time, and a chunk
whose tag fails after the answer began cuts the connection (never a clean end).
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from cifer.api.endpoints import DECRYPT, route
from cifer.api import response
from cifer.api.response import REQUEST_ID
from cifer.dataprotection import values
from cifer.envelope import Header, adecrypt_stream
from cifer.exceptions import InvalidCiphertext
from cifer_proxy import bodies, operations
from cifer_proxy.routes.streams import BROKEN_UPLOAD, OCTET_STREAM, abort, broken_upload, pieces
from cifer_proxy.state import IDENTITY, METRICS, USAGE

log = logging.getLogger("cifer.proxy")
routes = web.RouteTableDef()


async def data_key(request: web.Request, credential: str, header: Header) -> tuple[bytes, dict[str, str]]:
    """The header's data key (operations.release), and the rate-limit headers it came with."""
    released, passed = await operations.release(request.app, credential, header, request_id=request[REQUEST_ID])
    return released.data_key, passed


@route(routes, DECRYPT)
async def decrypt_data(request: web.Request) -> web.StreamResponse:
    credential = request.app[IDENTITY].required(request)  # none is a 401 whatever the body
    if request.content_type == OCTET_STREAM:
        return await _decrypt_stream(request, credential)
    body = await bodies.json_object(request, {"ciphertext", "encoding"})
    how = bodies.encoding(body.get("encoding", "base64"), allowed=("base64", "hex"))
    envelope = bodies.decode(body.get("ciphertext"), how, "ciphertext")
    opened = await operations.open_envelope(request.app, credential, envelope, request_id=request[REQUEST_ID])
    header = opened.header
    resp = response.ok(request, {
        "plaintext": bodies.encode(opened.plaintext, how), "encoding": how, "cifer_id": header.cifer_id,
        "key_version": header.key_version, "metadata": dict(header.metadata),
    })
    resp.headers.update(opened.passed)
    return resp


async def _decrypt_stream(request: web.Request, credential: str) -> web.StreamResponse:
    opened: dict[str, object] = {}

    async def open_key(header: Header) -> bytes:
        values.require_aad(header.metadata, None)
        key, opened["passed"] = await data_key(request, credential, header)
        opened["header"] = header
        return key

    resp: web.StreamResponse | None = None
    decrypted = request.app[METRICS].bytes_decrypted
    try:
        async for plain in adecrypt_stream(pieces(request), open_key):
            if resp is None:
                resp = await _begin(request, opened)
            await resp.write(plain)
            decrypted.inc(len(plain))
        if resp is None:  # an empty plaintext, verified
            resp = await _begin(request, opened)
        await resp.write_eof()
        return resp
    except (InvalidCiphertext, *BROKEN_UPLOAD) as exc:
        if isinstance(exc, InvalidCiphertext) and "header" in opened:  # the payload failed, not the header
            request.app[USAGE].payload_failed(credential, opened["header"].cifer_id)
        if resp is None:  # nothing sent yet: an ordinary error answer
            raise (exc if isinstance(exc, InvalidCiphertext) else broken_upload()) from None
        log.info("a ciphertext failed verification mid-stream; the answer is cut")
        abort(request)
        return resp


async def _begin(request: web.Request, opened: dict[str, object]) -> web.StreamResponse:
    header: Header = opened["header"]
    resp = web.StreamResponse(headers={
        "Content-Type": OCTET_STREAM, "X-Cifer-Id": header.cifer_id, "X-Cifer-Key-Version": str(header.key_version),
        "X-Cifer-Metadata": json.dumps(dict(header.metadata), ensure_ascii=True, separators=(",", ":")),
        **opened["passed"],
    })
    await resp.prepare(request)
    return resp
