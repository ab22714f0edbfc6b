"""POST /v1/keys/register (201) and DELETE /v1/keys/{session_id}."""

from __future__ import annotations

from aiohttp import web

from cifer.fhe import protocol
from cifer_inference.bodies import RegisterRequest, parse_object, read_json
from cifer_inference.routes.limits import limit
from cifer_inference.state import ENGINE, SESSIONS, SETTINGS, WORKERS

routes = web.RouteTableDef()


def _register(engine, raw: bytes) -> str:
    """In a worker thread: a context is tens of megabytes of JSON and base64 to parse."""
    return engine.register_job(RegisterRequest.parse(parse_object(raw))).session_id


@routes.post(protocol.REGISTER)
async def register(request: web.Request) -> web.Response:
    limit(request, "register", request.remote)
    raw = await read_json(request, request.app[SETTINGS].max_register_body_bytes)
    session_id = await request.app[WORKERS].register(_register, request.app[ENGINE], raw)
    return web.json_response({"session_id": session_id, "status": "registered",
                              "message": "Evaluation keys registered successfully"}, status=201)


@routes.delete(protocol.SESSION)
async def delete(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"].lower()
    request.app[SESSIONS].remove(session_id)
    return web.json_response({"status": "deleted", "session_id": session_id})
