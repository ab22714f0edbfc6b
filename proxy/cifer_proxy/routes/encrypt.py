"""POST /v1/encrypt (seed §4.3): sealed here, in the pod, with a cached public key; the key
service is asked only for keys it has not sent lately and for credentials not vouched for.

JSON in and out, or binary: `Content-Type: application/octet-stream` with `X-Cifer-Id` and
`X-Cifer-Metadata`, answered with the envelope as a stream, in bounded memory for any size.
"""

from __future__ import annotations

import logging

from aiohttp import web

from cifer.api.endpoints import ENCRYPT, route
from cifer.api import parsing, response
from cifer.envelope import aencrypt_stream
from cifer_proxy import bodies, operations
from cifer_proxy.routes.streams import BROKEN_UPLOAD, OCTET_STREAM, abort, pieces
from cifer_proxy.state import IDENTITY, METRICS, PUBLIC_KEYS, USAGE

log = logging.getLogger("cifer.proxy")
routes = web.RouteTableDef()


async def authorize(request: web.Request) -> tuple[str, dict[str, str]]:
    """401 or 403 before anything of the request is judged (seed §9.1), then the sidecar's encrypt
    limit when it has one (429); the credential, and the X-RateLimit-* headers for the answer."""
    credential = request.app[IDENTITY].required(request)
    return credential, await operations.admit_encrypt(request.app, credential)


@route(routes, ENCRYPT)
async def encrypt_data(request: web.Request) -> web.StreamResponse:
    credential, limited = await authorize(request)
    if request.content_type == OCTET_STREAM:
        return await _encrypt_stream(request, credential, limited)
    if "X-Cifer-Id" in request.headers:  # a binary body's headers, sent with JSON: ignored, but well-formed
        parsing.cifer_id(request.headers["X-Cifer-Id"], "X-Cifer-Id")
    bodies.metadata_header(request.headers.get("X-Cifer-Metadata"))
    body = await bodies.json_object(request, {"cifer_id", "plaintext", "encoding", "metadata"})
    cifer_id = parsing.cifer_id(body.get("cifer_id"), "cifer_id")
    plaintext = bodies.decode(body.get("plaintext"), bodies.encoding(body.get("encoding", "base64")), "plaintext")
    metadata = bodies.metadata(body.get("metadata", {}))
    sealed = await operations.seal(request.app, credential, cifer_id, plaintext, metadata)
    envelope, recipient = sealed.envelope, sealed.recipient
    resp = response.ok(request, {
        "ciphertext": bodies.encode(envelope, "base64"), "encoding": "base64",
        "envelope_size": len(envelope), "algorithm": operations.algorithm(recipient), "metadata": metadata,
        "cifer_id": recipient.cifer_id, "key_version": recipient.key_version,
    })
    resp.headers.update(limited)
    return resp


async def _encrypt_stream(request: web.Request, credential: str, limited: dict[str, str]) -> web.StreamResponse:
    cifer_id = parsing.cifer_id(request.headers.get("X-Cifer-Id"), "X-Cifer-Id")
    metadata = bodies.metadata_header(request.headers.get("X-Cifer-Metadata"))
    recipient = await request.app[PUBLIC_KEYS].recipient(cifer_id)  # every refusal comes before the first byte
    resp = web.StreamResponse(headers={
        "Content-Type": OCTET_STREAM, "X-Cifer-Id": recipient.cifer_id,
        "X-Cifer-Key-Version": str(recipient.key_version), "X-Cifer-Algorithm": recipient.suite.name, **limited,
    })
    await resp.prepare(request)
    read = [0]

    async def counted():
        async for piece in pieces(request, request.app[METRICS].bytes_encrypted):
            read[0] += len(piece)
            yield piece

    try:
        async for sealed in aencrypt_stream(recipient, counted(), metadata=metadata):
            await resp.write(sealed)
        await resp.write_eof()
        request.app[USAGE].encrypted(credential, recipient.cifer_id, read[0])  # a whole envelope: one use
    except BROKEN_UPLOAD:
        log.info("an upload to encrypt broke off; its response is cut too")
        abort(request)
    return resp
