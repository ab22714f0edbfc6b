"""POST /v1/infer: a prediction from the inference service (seed 004) that never sees the data.

The application posts plaintext features; the sidecar encrypts them under its pod's CKKS key,
the inference service computes on the ciphertext, the sidecar decrypts the scores. One input
(`features`) or many (`inputs`, packed into the slots of as few ciphertexts as the model allows).
"""

from __future__ import annotations

import asyncio
import math

import aiohttp
from aiohttp import web

from cifer.api.endpoints import INFER, route
from cifer.api import response
from cifer.api.errors import ApiError, ErrorCode
from cifer_proxy import bodies
from cifer_proxy.inference import unavailable
from cifer_proxy.routes.encrypt import authorize
from cifer_proxy.state import INFERENCE

routes = web.RouteTableDef()
MAX_INPUTS = 1024
MAX_FEATURES = 4096
MAX_MODEL_ID_CHARS = 128


def _vector(value: object, field: str) -> list[float]:
    if (not isinstance(value, list) or not 0 < len(value) <= MAX_FEATURES
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value)):
        raise bodies.invalid(field, f"must be a list of 1 to {MAX_FEATURES} finite numbers")
    return [float(x) for x in value]


def _inputs(body: dict) -> tuple[list[list[float]], bool]:
    if ("features" in body) == ("inputs" in body):
        raise bodies.invalid("features", "give either features (one input) or inputs (a list of them)")
    if "features" in body:
        return [_vector(body["features"], "features")], False
    many = body["inputs"]
    if not isinstance(many, list) or not 0 < len(many) <= MAX_INPUTS:
        raise bodies.invalid("inputs", f"must be a list of 1 to {MAX_INPUTS} inputs")
    vectors = [_vector(item, f"inputs[{i}]") for i, item in enumerate(many)]
    if len({len(v) for v in vectors}) != 1:
        raise bodies.invalid("inputs", "every input must have the same length")
    return vectors, True


def _service_error(exc: Exception) -> ApiError:
    from cifer.fhe import FHEServiceError  # the client is loaded by now
    if not isinstance(exc, FHEServiceError):
        return unavailable("the inference service could not be reached")
    if exc.status == 404:
        return ApiError(ErrorCode.NOT_FOUND, exc.detail, details={"field": "model_id"})
    if exc.status == 429:
        retry = str(math.ceil(exc.retry_after_s or 1))
        return ApiError(ErrorCode.RATE_LIMIT_EXCEEDED, exc.detail, headers={"Retry-After": retry})
    if exc.status in (400, 422):
        return ApiError(ErrorCode.INVALID_REQUEST, f"the inference service refused the input: {exc.detail}")
    return unavailable(f"the inference service answered {exc.status}")


@route(routes, INFER)
async def infer(request: web.Request) -> web.Response:
    await authorize(request)
    body = await bodies.json_object(request, {"model_id", "features", "inputs"})
    model_id = body.get("model_id")
    if not isinstance(model_id, str) or not 0 < len(model_id) <= MAX_MODEL_ID_CHARS:
        raise bodies.invalid("model_id", "is required: a model id (GET /v1/models of the inference service)")
    vectors, batched = _inputs(body)
    request.app[INFERENCE].require()
    from cifer.fhe import FHEServiceError  # importable now
    try:
        client = await request.app[INFERENCE].client()
        models = await client.models()
        if model_id in models and len(vectors[0]) != models[model_id].input_dim:
            raise bodies.invalid("inputs" if batched else "features",
                                 f"model {model_id} takes {models[model_id].input_dim} features")
        results = await (client.infer_batch(model_id, vectors) if batched else client.infer(model_id, vectors[0]))
    except (FHEServiceError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        # first: a refused certificate is an aiohttp.ClientError and a ValueError (ssl.CertificateError)
        raise _service_error(exc) from None
    except ValueError as exc:  # the client's own check of the input, before anything is sent
        raise bodies.invalid("inputs" if batched else "features", str(exc)[:200]) from None
    results = results if batched else [results]
    predictions = [{"predicted_class": r.predicted_class, "scores": r.scores} for r in results]
    data = {"model_id": model_id, "latency_ms": max(r.latency_ms for r in results), "encrypted": True}
    return response.ok(request, data | ({"predictions": predictions} if batched else predictions[0]))
