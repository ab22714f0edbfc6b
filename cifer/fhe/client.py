"""Clients of the FHE inference service (seed 004): `FHEClient` (blocking, the seed's example
flow) and `AsyncFHEClient` (asyncio, for the sidecar). The CKKS secret key is made by `setup()`
and exists only in this process's memory; the service gets the public context.

    client = FHEClient("http://localhost:8000")
    client.setup()                     # keys, locally; asks the service which rotations its models use
    client.register_keys()             # POST /v1/keys/register: the public context only
    result = client.infer("demo-linear-classifier", embedding)
    result.predicted_class, result.scores
    client.infer_batch("digits-mlp-square", embeddings)   # many inputs per ciphertext
    client.close()                     # DELETE /v1/keys/{session_id}, forget the keys

Over https, `ca` names the CA bundle (a file, or the PEM text) the service's certificate is
verified against; None: the system's trust store.

A session the service has let expire (404, "Session not found or expired") is registered again
and the request retried once, so a long-lived client needs no care for the service's TTL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from cifer.exceptions import CoreError
from cifer.fhe import protocol
from cifer.fhe.models import iter_batches, pack_batch, pack_single, unpack_batch
from cifer.fhe.params import DEFAULT_PARAMETERS, CkksParameters
from cifer.fhe.protocol import InferenceResult, ModelInfo
from cifer.sdk.errors import parse_retry_after
from cifer.tls import client_context


class FHEServiceError(CoreError):
    """The service answered with an error: its status, its `detail`, and its Retry-After."""

    def __init__(self, status: int, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail, self.retry_after_s = status, detail, retry_after_s


class _Session:
    """Everything but the transport: keys, bodies, packing, reading answers."""

    def __init__(self, params: CkksParameters, session_id: str | None) -> None:
        self.params = params
        self.session_id = session_id or str(uuid.uuid4())
        self.keyring = None
        self.models: dict[str, ModelInfo] = {}

    def read_models(self, doc: dict) -> dict[str, ModelInfo]:
        self.models = {m["model_id"]: ModelInfo.from_json(m) for m in doc["models"]}
        return self.models

    def make_keys(self, galois_steps: Sequence[int] | None) -> None:
        from cifer.fhe.keys import CkksKeyring  # TenSEAL loads here, not at import
        if galois_steps is None:
            galois_steps = sorted({s for m in self.models.values() for s in m.galois_steps})
        self.keyring = CkksKeyring(self.params, tuple(galois_steps))

    def register_body(self) -> dict:
        if self.keyring is None:
            raise RuntimeError("call setup() before register_keys()")
        return {"session_id": self.session_id, "fhe_scheme": protocol.SCHEME,
                "params": {"poly_modulus_degree": self.params.poly_modulus_degree,
                           "security_level": self.params.security_level,
                           "coeff_mod_bit_sizes": list(self.params.coeff_mod_bit_sizes),
                           "global_scale": self.params.scale},
                "context_b64": base64.b64encode(self.keyring.public_context).decode("ascii")}

    def infer_bodies(self, model: ModelInfo, inputs: np.ndarray, batched: bool) -> list[tuple[dict, int]]:
        """(body, inputs in it) per request: one input per ciphertext, or as many as fit."""
        if self.keyring is None:
            raise RuntimeError("call setup() and register_keys() before infer()")
        if inputs.ndim != 2 or inputs.shape[1] != model.input_dim or not np.isfinite(inputs).all():
            raise ValueError(f"{model.model_id} takes finite vectors of {model.input_dim} values")
        slots = self.keyring.slot_count
        bodies = []
        if not batched:
            for x in inputs:
                blob = self.keyring.encrypt(pack_single(x, slots), size=model.input_dim,
                                            depth=model.multiplicative_depth)
                bodies.append((self._infer_body(model, blob), 1))
            return bodies
        capacity = slots // model.batch_stride
        for chunk in iter_batches(inputs, capacity):
            blob = self.keyring.encrypt(pack_batch(chunk, model.batch_stride), size=len(chunk) * model.batch_stride,
                                        depth=model.multiplicative_depth)
            bodies.append((self._infer_body(model, blob), len(chunk)))
        return bodies

    def _infer_body(self, model: ModelInfo, blob: bytes) -> dict:
        return {"session_id": self.session_id, "model_id": model.model_id,
                "ciphertext_input_b64": base64.b64encode(blob).decode("ascii")}

    def read_infer(self, model: ModelInfo, doc: dict, n: int, batched: bool) -> list[InferenceResult]:
        values = self.keyring.decrypt(base64.b64decode(doc["ciphertext_output_b64"], validate=True))
        scores = (unpack_batch(values, n, model.batch_stride, model.output_dim) if batched
                  else values[:model.output_dim].reshape(1, -1))
        meta = doc["metadata"]
        return [InferenceResult(model_id=model.model_id, scores=[float(v) for v in row],
                                predicted_class=model.classes[int(np.argmax(row))], latency_ms=float(meta["latency_ms"]),
                                ct_input_bytes=int(meta["ct_input_bytes"]), ct_output_bytes=int(meta["ct_output_bytes"]),
                                batch_size=n)
                for row in scores]

    def forget(self) -> None:
        self.keyring = None  # the only reference to the secret key


def _inputs(embeddings: Any) -> np.ndarray:
    return np.atleast_2d(np.asarray(embeddings, dtype=np.float64))


def _error(status: int, raw: bytes, retry_after: str | None) -> FHEServiceError:
    try:
        detail = json.loads(raw)["detail"]
    except (ValueError, KeyError, TypeError):
        detail = raw[:200].decode("utf-8", "replace")
    return FHEServiceError(status, str(detail), parse_retry_after(retry_after))


def _expired(exc: FHEServiceError) -> bool:
    return exc.status == 404 and exc.detail == protocol.SESSION_NOT_FOUND


class FHEClient:
    """Blocking client (the seed's example flow). Not for concurrent use from several threads."""

    def __init__(self, url: str, *, params: CkksParameters = DEFAULT_PARAMETERS, session_id: str | None = None,
                 timeout_s: float = 120.0, ca: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._tls = client_context(ca)
        self._session = _Session(params, session_id)

    @property
    def session_id(self) -> str:
        return self._session.session_id

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._tls) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read(), exc.headers.get("Retry-After")) from None

    def health(self) -> dict:
        return self._call("GET", protocol.HEALTH)

    def models(self) -> dict[str, ModelInfo]:
        return self._session.read_models(self._call("GET", protocol.MODELS))

    def setup(self, galois_steps: Sequence[int] | None = None) -> None:
        """Make this session's keys. Without `galois_steps`, only the rotations the service's
        models use (from GET /v1/models) get a key, which keeps the context small."""
        if galois_steps is None and not self._session.models:
            self.models()
        self._session.make_keys(galois_steps)

    def register_keys(self) -> dict:
        return self._call("POST", protocol.REGISTER, self._session.register_body())

    def infer(self, model_id: str, embedding: Any) -> InferenceResult:
        return self._infer(model_id, _inputs(embedding)[:1], batched=False)[0]

    def infer_batch(self, model_id: str, embeddings: Any) -> list[InferenceResult]:
        """Many inputs, as many per ciphertext as its slots hold (one request per ciphertext)."""
        return self._infer(model_id, _inputs(embeddings), batched=True)

    def _infer(self, model_id: str, inputs: np.ndarray, batched: bool) -> list[InferenceResult]:
        model = self._model(model_id)
        results = []
        for body, n in self._session.infer_bodies(model, inputs, batched):
            try:
                doc = self._call("POST", protocol.INFER, body)
            except FHEServiceError as exc:
                if not _expired(exc):
                    raise
                self.register_keys()
                doc = self._call("POST", protocol.INFER, body)
            results += self._session.read_infer(model, doc, n, batched)
        return results

    def _model(self, model_id: str) -> ModelInfo:
        if model_id not in self._session.models:
            self.models()
        if model_id not in self._session.models:
            raise FHEServiceError(404, f"{protocol.MODEL_NOT_FOUND}: {model_id}")
        return self._session.models[model_id]

    def delete_session(self) -> dict:
        return self._call("DELETE", protocol.SESSION.format(session_id=self.session_id))

    def close(self) -> None:
        """Delete the session on the service (if it still has it) and forget the keys."""
        try:
            if self._session.keyring is not None:
                self.delete_session()
        except (FHEServiceError, OSError):
            pass
        finally:
            self._session.forget()

    def __enter__(self) -> FHEClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncFHEClient:
    """The same for asyncio (the sidecar). Key generation, encryption and decryption run in a
    thread, so the event loop only waits. Safe for concurrent `infer` calls."""

    def __init__(self, url: str, *, params: CkksParameters = DEFAULT_PARAMETERS, session_id: str | None = None,
                 timeout_s: float = 120.0, http: Any = None, ca: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._tls = client_context(ca)
        self._session = _Session(params, session_id)
        self._http = http
        self._own_http = http is None
        self._register_lock = asyncio.Lock()
        self._registrations = 0

    @property
    def session_id(self) -> str:
        return self._session.session_id

    async def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        import aiohttp
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                               connector=aiohttp.TCPConnector(ssl=self._tls))
        data = None if body is None else await asyncio.to_thread(json.dumps, body)  # contexts are megabytes
        headers = {"Content-Type": "application/json"} if data is not None else None
        async with self._http.request(method, self.url + path, data=data, headers=headers) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise _error(resp.status, raw, resp.headers.get("Retry-After"))
            return json.loads(raw)

    async def health(self) -> dict:
        return await self._call("GET", protocol.HEALTH)

    async def models(self) -> dict[str, ModelInfo]:
        return self._session.read_models(await self._call("GET", protocol.MODELS))

    async def setup(self, galois_steps: Sequence[int] | None = None) -> None:
        if galois_steps is None and not self._session.models:
            await self.models()
        await asyncio.to_thread(self._session.make_keys, galois_steps)

    async def register_keys(self) -> dict:
        body = await asyncio.to_thread(self._session.register_body)
        answer = await self._call("POST", protocol.REGISTER, body)
        self._registrations += 1
        return answer

    async def infer(self, model_id: str, embedding: Any) -> InferenceResult:
        return (await self._infer(model_id, _inputs(embedding)[:1], batched=False))[0]

    async def infer_batch(self, model_id: str, embeddings: Any) -> list[InferenceResult]:
        return await self._infer(model_id, _inputs(embeddings), batched=True)

    async def _infer(self, model_id: str, inputs: np.ndarray, batched: bool) -> list[InferenceResult]:
        model = await self._model(model_id)
        bodies = await asyncio.to_thread(self._session.infer_bodies, model, inputs, batched)
        results = []
        for body, n in bodies:
            registrations = self._registrations
            try:
                doc = await self._call("POST", protocol.INFER, body)
            except FHEServiceError as exc:
                if not _expired(exc):
                    raise
                async with self._register_lock:  # concurrent callers that found it expired register once
                    if self._registrations == registrations:
                        await self.register_keys()
                doc = await self._call("POST", protocol.INFER, body)
            results += await asyncio.to_thread(self._session.read_infer, model, doc, n, batched)
        return results

    async def _model(self, model_id: str) -> ModelInfo:
        if model_id not in self._session.models:
            await self.models()
        if model_id not in self._session.models:
            raise FHEServiceError(404, f"{protocol.MODEL_NOT_FOUND}: {model_id}")
        return self._session.models[model_id]

    async def delete_session(self) -> dict:
        return await self._call("DELETE", protocol.SESSION.format(session_id=self.session_id))

    async def close(self) -> None:
        import aiohttp
        try:
            if self._session.keyring is not None:
                await self.delete_session()
        except (FHEServiceError, aiohttp.ClientError, OSError, asyncio.TimeoutError):
            pass
        finally:
            self._session.forget()
            if self._own_http and self._http is not None:
                await self._http.close()
            self._http = None

    async def __aenter__(self) -> AsyncFHEClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
