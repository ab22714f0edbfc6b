"""POST /v1/infer: the model on the client's ciphertext, in a worker thread."""

from __future__ import annotations

import base64
import time

from aiohttp import web

from cifer.fhe import protocol, wire
from cifer_inference.errors import bad_request, not_found
from cifer_inference.bodies import InferRequest, decode_b64, parse_object, read_json
from cifer_inference.state import ENGINE, LIMITERS, SESSIONS, SETTINGS, WORKERS

routes = web.RouteTableDef()


@routes.post(protocol.INFER)
async def infer(request: web.Request) -> web.Response:
    started = time.perf_counter()
    app = request.app
    body = InferRequest.parse(parse_object(await read_json(request, app[SETTINGS].max_infer_body_bytes)))
    session = app[SESSIONS].get(body.session_id)
    limiter = app[LIMITERS].get("infer")
    if limiter is not None:  # per session: its window lives and dies with it
        session.infer_window.hit(limiter.limit, limiter.clock(), limiter.what)
    engine = app[ENGINE]
    found = engine.model(body.model_id)
    if found is None:
        raise not_found(f"{protocol.MODEL_NOT_FOUND}: {body.model_id}")
    model, plan = found
    blob = decode_b64(body.ciphertext_b64, "ciphertext_input_b64")
    try:
        vector = wire.parse_vector(blob)
    except wire.WireError as exc:
        raise bad_request(f"ciphertext_input_b64 is not a serialized TenSEAL CKKS vector: {exc}") from None
    stride, size = engine.layout(session, model, plan, vector)
    output = await app[WORKERS].evaluate(engine.infer_job, session, model, plan, vector, stride, size)
    return web.json_response({
        "ciphertext_output_b64": base64.b64encode(output).decode("ascii"),
        "metadata": {"latency_ms": round((time.perf_counter() - started) * 1000, 2), "ct_input_bytes": len(blob),
                     "ct_output_bytes": len(output), "model_id": model.model_id},
    })
