"""Raw calls to the inference service: every answer read whole, whatever its status."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid


def call(url: str, method: str, path: str, body=None, *, raw: bytes | None = None) -> tuple[int, dict, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def register_body(context: bytes, *, session_id: str | None = None, degree: int = 8192, **extra) -> dict:
    return {"session_id": session_id or str(uuid.uuid4()), "fhe_scheme": "ckks",
            "params": {"poly_modulus_degree": degree, "security_level": 128}, "context_b64": b64(context), **extra}


def infer_body(session_id: str, ciphertext: bytes, model_id: str = "demo-linear-classifier") -> dict:
    return {"session_id": session_id, "model_id": model_id, "ciphertext_input_b64": b64(ciphertext)}
