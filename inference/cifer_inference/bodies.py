"""The request bodies of seed 004, parsed once into types at the edge.

A body that is not the seed's shape (not JSON, a missing field, a wrong type, an unexpected
field) is 422; a well-formed body with a value the service cannot accept (a scheme other than
CKKS, unsupported parameters, bad base64) is 400.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
from typing import Any

from aiohttp import web

from cifer.fhe import protocol
from cifer_inference.errors import bad_request, invalid

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_MODEL_ID_CHARS = 128


async def read_json(request: web.Request, max_bytes: int) -> bytes:
    """The raw body, at most `max_bytes` (413 beyond, without reading the rest)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 20):
        size += len(chunk)
        if size > max_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_object(raw: bytes) -> dict:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("the body must be JSON") from None
    if not isinstance(doc, dict):
        raise invalid("the body must be a JSON object")
    return doc


class _Fields:
    """Typed access to one JSON object's fields; every unknown field is refused."""

    def __init__(self, doc: dict, allowed: set[str], where: str = "") -> None:
        unknown = sorted(set(doc) - allowed)
        if unknown:
            raise invalid(f"unexpected field {where}{unknown[0]!r}")
        self.doc, self.where = doc, where

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.doc or self.doc[name] is None:
            if required:
                raise invalid(f"field {self.where}{name!r} is required")
            return None
        return self.doc[name]

    def string(self, name: str, *, required: bool = True) -> str | None:
        value = self._get(name, required)
        if value is not None and not isinstance(value, str):
            raise invalid(f"field {self.where}{name!r} must be a string")
        return value

    def integer(self, name: str, *, required: bool = True) -> int | None:
        value = self._get(name, required)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise invalid(f"field {self.where}{name!r} must be an integer")
        return value

    def number(self, name: str, *, required: bool = True) -> float | None:
        value = self._get(name, required)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise invalid(f"field {self.where}{name!r} must be a number")
        return None if value is None else float(value)

    def integers(self, name: str, *, required: bool = True) -> tuple[int, ...] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            raise invalid(f"field {self.where}{name!r} must be a list of integers")
        return tuple(value)

    def object(self, name: str) -> dict:
        value = self._get(name, True)
        if not isinstance(value, dict):
            raise invalid(f"field {self.where}{name!r} must be an object")
        return value


def _default(value, default):
    return default if value is None else value


def session_id(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise invalid("field 'session_id' must be a UUID (8-4-4-4-12 hexadecimal digits)")
    return value.lower()


def decode_b64(value: str, name: str) -> bytes:
    if not value:
        raise bad_request(f"Invalid base64 encoding in {name}: it is empty")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"Invalid base64 encoding in {name}") from None


@dataclasses.dataclass(frozen=True)
class RegisterParams:
    poly_modulus_degree: int
    security_level: int
    coeff_mod_bit_sizes: tuple[int, ...] | None
    global_scale: float | None


@dataclasses.dataclass(frozen=True)
class RegisterRequest:
    """POST /v1/keys/register. `eval_keys_b64` may be absent, null, empty, the same bytes as
    `context_b64`, or another public TenSEAL context with the same parameters whose Galois and
    relinearization keys are then used."""

    session_id: str
    params: RegisterParams
    context: bytes
    eval_keys: bytes | None

    @classmethod
    def parse(cls, doc: dict) -> RegisterRequest:
        fields = _Fields(doc, {"session_id", "fhe_scheme", "params", "context_b64", "eval_keys_b64"})
        sid = session_id(fields.string("session_id"))
        scheme = fields.string("fhe_scheme")
        p = _Fields(fields.object("params"), {"poly_modulus_degree", "security_level", "coeff_mod_bit_sizes",
                                              "global_scale"}, "params.")
        params = RegisterParams(poly_modulus_degree=p.integer("poly_modulus_degree"),
                                security_level=_default(p.integer("security_level", required=False), 128),
                                coeff_mod_bit_sizes=p.integers("coeff_mod_bit_sizes", required=False),
                                global_scale=p.number("global_scale", required=False))
        context_b64 = fields.string("context_b64")
        eval_b64 = fields.string("eval_keys_b64", required=False)
        if scheme.lower() != protocol.SCHEME:  # after the shape checks: a well-formed body names a scheme we lack
            raise bad_request(f"Unsupported scheme: {scheme!r} (this service evaluates {protocol.SCHEME})")
        context = decode_b64(context_b64, "context_b64")
        eval_keys = decode_b64(eval_b64, "eval_keys_b64") if eval_b64 else None
        return cls(session_id=sid, params=params, context=context, eval_keys=eval_keys)


@dataclasses.dataclass(frozen=True)
class InferRequest:
    session_id: str
    model_id: str
    ciphertext_b64: str

    @classmethod
    def parse(cls, doc: dict) -> InferRequest:
        fields = _Fields(doc, {"session_id", "model_id", "ciphertext_input_b64"})
        sid = session_id(fields.string("session_id"))
        model_id = fields.string("model_id")
        if not 0 < len(model_id) <= MAX_MODEL_ID_CHARS:
            raise invalid(f"field 'model_id' must have 1 to {MAX_MODEL_ID_CHARS} characters")
        return cls(session_id=sid, model_id=model_id, ciphertext_b64=fields.string("ciphertext_input_b64"))
