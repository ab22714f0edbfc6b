"""The sidecar's gRPC API: seed 000 §5's `CiferService` (proto/cifer/v1/cifer.proto; docs/grpc.md),
on `--grpc-port` beside REST, in the same process and event loop, over the same objects.

Each RPC is its REST twin's (`Endpoint.rpcs` in the endpoint table): encryption and decryption go
through `operations`, as the REST routes do; cifer management is passed to the key service as REST
forwards it, with the caller's credential, and a rotation or revocation drops the cached public
key when the twin's table entry says so. So authentication, scopes, policies, rate limits, usage,
audit and webhooks are the same rules, applied in the same places.

Metadata: `authorization: Bearer ...` is the credential, as REST's header; without it the pod's
identity is lent while the server listens on loopback (as REST's; no browser speaks gRPC, so
REST's Host check has no counterpart). `x-request-id` is echoed in the initial metadata (one is
made when absent); `x-idempotency-key` goes with the mutating calls to the key service; the
rate-limit figures (`x-ratelimit-*`, `retry-after`) come back in the trailing metadata. Errors
are the table of `cifer.api.grpc_codes`, with the seed's code and details in the status's details.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import inspect
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc
from aiohttp import web
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1.health import aio as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry, Counter, Histogram

from cifer.api import endpoints, parsing
from cifer.api.health import HEALTH_CHECKS
from cifer.api.metrics import REGISTRY
from cifer.api.credentials import checked
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.grpc_codes import DOMAIN, STATUS_OF
from cifer.api.middleware import accepted_request_id
from cifer.api.timestamps import parse_iso
from cifer.dataprotection import values
from cifer.envelope import adecrypt_stream, aencrypt_stream
from cifer.envelope.seal import DEFAULT_CHUNK_SIZE
from cifer.envelope.stream import TAG_BYTES
from cifer.exceptions import CannotListen, InvalidCiphertext
from cifer.v1 import cifer_pb2 as pb
from cifer.v1 import cifer_pb2_grpc
from cifer_proxy import bodies, operations
from cifer_proxy.state import IDENTITY, KEYSERVICE, METRICS, PUBLIC_KEYS, SETTINGS, USAGE

log = logging.getLogger("cifer.proxy")
T = TypeVar("T")
PASSED = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after")
STATUSES = {"pending": pb.CIFER_STATUS_PENDING, "active": pb.CIFER_STATUS_ACTIVE,
            "rotating": pb.CIFER_STATUS_ROTATING, "revoked": pb.CIFER_STATUS_REVOKED}
STATUS_NAMES = {value: name for name, value in STATUSES.items()}  # REST's `status` filter, by enum value


def status_of(error: ApiError) -> grpc.Status:
    """The error as a rich gRPC status: the table's code, the message, and ErrorInfo (and RetryInfo)."""
    code = getattr(code_pb2, STATUS_OF[error.code])
    info = error_details_pb2.ErrorInfo(reason=error.code.name, domain=DOMAIN,
                                       metadata={k: str(v) for k, v in error.details.items()})
    details = [any_pb2.Any()]
    details[0].Pack(info)
    retry_after = error.headers.get("Retry-After")
    if retry_after is not None and retry_after.isdigit():
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.seconds = int(retry_after)
        details.append(any_pb2.Any())
        details[1].Pack(retry)
    return rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=details))


ACCESS_LOG = logging.getLogger("cifer.grpc.access")
_ENDED: dict[int, str] = {}  # the status code name of a call ending in an error, by its context, until counted


class CallMetrics:
    """gRPC calls counted and timed as REST's requests are (cifer.api.metrics):
    `cifer_grpc_requests{method, code}` and `cifer_grpc_request_duration_seconds{method}`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter("cifer_grpc_requests", "gRPC calls by method and status code", ["method", "code"],
                             registry=registry)
        self.latency = Histogram("cifer_grpc_request_duration_seconds", "gRPC call latency by method", ["method"],
                                 registry=registry)

    def done(self, method: str, context, started: float) -> None:
        code, seconds = _ENDED.pop(id(context), "OK"), time.perf_counter() - started
        self.calls.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)
        if ACCESS_LOG.isEnabledFor(logging.INFO):  # as aiohttp.access logs REST's: peer, call, outcome, agent
            agent = next((v for k, v in context.invocation_metadata() or () if k == "user-agent"), "-")
            ACCESS_LOG.info('%s "%s" %s %.3fs "%s"', context.peer(), method, code, seconds, agent)


def measured(method):
    """Counts and times a unary servicer method or a streaming one (an async generator)."""
    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def streaming(self, requests, context):
            started = time.perf_counter()
            try:
                async for answer in method(self, requests, context):
                    yield answer
            except BaseException:
                _ENDED.setdefault(id(context), "CANCELLED")
                raise
            finally:
                self._metrics.done(method.__name__, context, started)
        return streaming

    @functools.wraps(method)
    async def unary(self, request, context):
        started = time.perf_counter()
        try:
            return await method(self, request, context)
        finally:
            self._metrics.done(method.__name__, context, started)
    return unary


def figures(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """REST's rate-limit headers as trailing metadata."""
    return tuple((k.lower(), v) for k, v in headers.items() if k.lower() in PASSED)


async def abort(context: grpc.aio.ServicerContext, error: ApiError, extra: tuple = ()) -> None:
    """Ends the call with the error's status, its rich details and its rate-limit figures trailing."""
    status = status_of(error)
    _ENDED[id(context)] = STATUS_OF[error.code]
    await context.abort(status.code, status.details,
                        trailing_metadata=(*status.trailing_metadata, *extra, *figures(error.headers)))


def _timestamp(text: str | None, into) -> None:
    if text:
        into.FromDatetime(parse_iso(text).replace(tzinfo=None))


def cifer_message(data: Mapping[str, Any]) -> pb.CiferResponse:
    """A cifer as REST answers it (seed §4.1, §4.2), as the seed's CiferResponse."""
    message = pb.CiferResponse(
        cifer_id=data["cifer_id"], name=data.get("name") or "", description=data.get("description") or "",
        status=STATUSES.get(data.get("status"), pb.CIFER_STATUS_UNSPECIFIED), owner_id=data.get("owner_id") or "",
        key_version=data.get("key_version") or 0, metadata=data.get("metadata") or {},
        encapsulation_key=base64.b64decode(data.get("encapsulation_key") or ""))
    _timestamp(data.get("created_at"), message.created_at)
    _timestamp(data.get("updated_at"), message.updated_at)
    policy = data.get("policy") or {}
    message.policy.auto_rotate_days = policy.get("auto_rotate_days") or 0
    message.policy.allowed_operations.extend(policy.get("allowed_operations") or [])
    return message


class CiferServicer(cifer_pb2_grpc.CiferServiceServicer):
    def __init__(self, app: web.Application, metrics: CallMetrics) -> None:
        self._app = app
        self._metrics = metrics

    def _credential(self, context: grpc.aio.ServicerContext) -> str:
        given = [value for key, value in context.invocation_metadata() or () if key == "authorization"]
        if len(given) > 1 or (given and not isinstance(given[0], str)):
            raise ApiError(ErrorCode.UNAUTHORIZED)
        credential = checked(given[0]) if given else self._app[IDENTITY].lent()
        if credential is None:
            raise ApiError(ErrorCode.UNAUTHORIZED)
        return credential

    @staticmethod
    def _metadata(context: grpc.aio.ServicerContext, name: str) -> str | None:
        for key, value in context.invocation_metadata() or ():
            if key == name and isinstance(value, str):
                return value
        return None

    async def _run(self, context: grpc.aio.ServicerContext, work: Callable[[str, str], Awaitable[tuple[T, dict]]], *,
                   stream: bool = False) -> T:
        """`work(credential, request_id)` answered, or its error as the table's status. The request id
        and the rate-limit figures go in the trailing metadata of a unary call (one send with the
        answer, measured about a fifth cheaper than a separate initial send); a stream sends the id
        first, before its answers."""
        request_id = accepted_request_id(self._metadata(context, "x-request-id"))
        echoed = (("x-request-id", request_id),)
        if stream:
            await context.send_initial_metadata(echoed)
            echoed = ()
        try:
            answer, passed = await work(self._credential(context), request_id)
        except ApiError as error:
            failed = error
        except InvalidCiphertext:
            failed = ApiError(ErrorCode.INVALID_CIPHERTEXT)
        except Exception:
            log.exception("unhandled error in a gRPC call")
            failed = ApiError(ErrorCode.INTERNAL_ERROR)
        else:
            context.set_trailing_metadata((*echoed, *figures(passed)))
            return answer
        await abort(context, failed, echoed)
        raise AssertionError("unreachable: abort raises")

    async def _forward(self, endpoint: endpoints.Endpoint, credential: str, request_id: str, path: str, *,
                       body: Any = None, idempotency: str | None = None,
                       extra: Mapping[str, str] | None = None) -> tuple[Any, dict[str, str]]:
        """The REST twin's call to the key service, as routes/forward.py makes it; a success of an
        endpoint that moves the key (or a 410) drops the cached public key, as there."""
        headers = {"Authorization": credential, "X-Request-ID": request_id, **(extra or {})}
        if idempotency is not None:
            headers["X-Idempotency-Key"] = idempotency
        try:
            data, passed = await self._app[KEYSERVICE].data(
                endpoint.method, path, headers=headers, **({"json_body": body} if body is not None else {}))
        except ApiError as error:
            if error.code is ErrorCode.CIFER_REVOKED:
                self._forget(path)
            raise
        if endpoint.sidecar is endpoints.Sidecar.FORWARD_MOVES_KEY:
            self._forget(path)
        return data, passed

    def _forget(self, path: str) -> None:
        """Drops the cached public key of the cifer the path names (`/v1/cifers/{id}...`, `/v1/keys/{id}`)."""
        parts = path.split("?")[0].split("/")
        if len(parts) > 3:
            self._app[PUBLIC_KEYS].forget(parts[3])

    @measured
    async def CreateCifer(self, request: pb.CreateCiferRequest, context) -> pb.CiferResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            body: dict[str, Any] = {"name": request.name, "description": request.description,
                                    "metadata": dict(request.metadata)}
            if request.HasField("policy"):
                body["policy"] = {"allowed_operations": list(request.policy.allowed_operations) or None,
                                  "auto_rotate_days": request.policy.auto_rotate_days or None}
                body["policy"] = {k: v for k, v in body["policy"].items() if v is not None}
            data, passed = await self._forward(endpoints.twin("CreateCifer"), credential, request_id, "/v1/cifers",
                                               body=body, idempotency=self._metadata(context, "x-idempotency-key"))
            return cifer_message(data), passed
        return await self._run(context, work)

    @measured
    async def GetCifer(self, request: pb.GetCiferRequest, context) -> pb.CiferResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            cifer_id = parsing.cifer_id(request.cifer_id, "cifer_id")
            data, passed = await self._forward(endpoints.twin("GetCifer"), credential, request_id, f"/v1/cifers/{cifer_id}")
            return cifer_message(data), passed
        return await self._run(context, work)

    @measured
    async def ListCifers(self, request: pb.ListCifersRequest, context) -> pb.ListCifersResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            query: dict[str, str] = {}
            if request.status != pb.CIFER_STATUS_UNSPECIFIED:
                query["status"] = STATUS_NAMES.get(request.status, "unspecified")
            if request.limit:
                query["limit"] = str(request.limit)
            if request.cursor:
                query["cursor"] = request.cursor
            path = "/v1/cifers" + ("?" + urllib.parse.urlencode(query) if query else "")
            data, passed = await self._forward(endpoints.twin("ListCifers"), credential, request_id, path)
            return pb.ListCifersResponse(cifers=[cifer_message(item) for item in data["cifers"]],
                                         next_cursor=data.get("next_cursor") or "", has_more=data["has_more"]), passed
        return await self._run(context, work)

    @measured
    async def RotateKey(self, request: pb.RotateKeyRequest, context) -> pb.RotateKeyResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            cifer_id = parsing.cifer_id(request.cifer_id, "cifer_id")
            body: dict[str, Any] = {"reason": request.reason} if request.reason else {}
            if request.HasField("re_encryption_window_days"):
                body["re_encryption_window_days"] = request.re_encryption_window_days
            data, passed = await self._forward(endpoints.twin("RotateKey"), credential, request_id,
                                               f"/v1/cifers/{cifer_id}/rotate", body=body,
                                               idempotency=self._metadata(context, "x-idempotency-key"))
            answer = pb.RotateKeyResponse(cifer_id=data["cifer_id"], old_key_version=data["old_key_version"],
                                          new_key_version=data["new_key_version"],
                                          new_encapsulation_key=base64.b64decode(data["new_encapsulation_key"]))
            _timestamp(data.get("rotation_initiated_at"), answer.rotation_initiated_at)
            _timestamp(data.get("re_encryption_deadline"), answer.re_encryption_deadline)
            return answer, passed
        return await self._run(context, work)

    @measured
    async def RevokeCifer(self, request: pb.RevokeCiferRequest, context) -> pb.RevokeCiferResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            cifer_id = parsing.cifer_id(request.cifer_id, "cifer_id")
            if not request.confirm:
                raise parsing.invalid("confirm", "must be true: revocation cannot be undone")
            data, passed = await self._forward(endpoints.twin("RevokeCifer"), credential, request_id,
                                               f"/v1/cifers/{cifer_id}", extra={"X-Confirm-Revocation": "true"})
            answer = pb.RevokeCiferResponse(cifer_id=data["cifer_id"], status=pb.CIFER_STATUS_REVOKED,
                                            warning=data.get("warning") or "")
            _timestamp(data.get("revoked_at"), answer.revoked_at)
            return answer, passed
        return await self._run(context, work)

    @measured
    async def GetPublicKey(self, request: pb.GetPublicKeyRequest, context) -> pb.GetPublicKeyResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            cifer_id = parsing.cifer_id(request.cifer_id, "cifer_id")
            data, passed = await self._forward(endpoints.twin("GetPublicKey"), credential, request_id, f"/v1/keys/{cifer_id}")
            answer = pb.GetPublicKeyResponse(
                cifer_id=data["cifer_id"], encapsulation_key=base64.b64decode(data["encapsulation_key"]),
                key_version=data["key_version"], algorithm=pb.Algorithm(kem=data["algorithm"], aead=data.get("aead", "")))
            _timestamp(data.get("valid_until"), answer.valid_until)
            _timestamp(data.get("expires_at"), answer.expires_at)
            return answer, passed
        return await self._run(context, work)

    @measured
    async def Encrypt(self, request: pb.EncryptRequest, context) -> pb.EncryptResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            limited = await operations.admit_encrypt(self._app, credential)
            cifer_id = parsing.cifer_id(request.cifer_id, "cifer_id")
            metadata = bodies.metadata(dict(request.metadata))
            sealed = await operations.seal(self._app, credential, cifer_id, request.plaintext, metadata)
            return pb.EncryptResponse(ciphertext=sealed.envelope, envelope_size=len(sealed.envelope),
                                      algorithm=pb.Algorithm(**operations.algorithm(sealed.recipient))), limited
        return await self._run(context, work)

    @measured
    async def Decrypt(self, request: pb.DecryptRequest, context) -> pb.DecryptResponse:  # noqa: N802
        async def work(credential: str, request_id: str):
            opened = await operations.open_envelope(self._app, credential, request.ciphertext, request_id=request_id)
            header = opened.header
            return pb.DecryptResponse(plaintext=opened.plaintext, cifer_id=header.cifer_id,
                                      key_version=header.key_version, metadata=dict(header.metadata)), opened.passed
        return await self._run(context, work)


    @measured
    async def EncryptStream(self, requests, context):  # noqa: N802
        """`init`, then plaintext chunks, answered `header`, envelope chunks and `complete` (SHA-256 of
        the envelope); each piece is sealed as it arrives and sent before the next is read, so memory
        stays bounded whatever the size (gRPC's flow control holds a fast sender back)."""
        async def work(credential: str, request_id: str):
            first = await anext(aiter(requests), None)
            if first is None or first.WhichOneof("data") != "init":
                raise parsing.invalid("init", "must come first: cifer_id, total_size, metadata")
            limited = await operations.admit_encrypt(self._app, credential)
            cifer_id = parsing.cifer_id(first.init.cifer_id, "cifer_id")
            metadata = bodies.metadata(dict(first.init.metadata))
            if first.init.total_size < 0:
                raise parsing.invalid("total_size", "must not be negative")
            return (credential, cifer_id, metadata, first.init.total_size), limited
        credential, cifer_id, metadata, total_size = await self._run(context, work, stream=True)
        recipient = await self._answer_or_abort(context, self._app[PUBLIC_KEYS].recipient(cifer_id))
        read, digest = [0], hashlib.sha256()

        async def plaintext():
            async for message in requests:
                if message.WhichOneof("data") != "chunk":
                    await abort(context, parsing.invalid("chunk", "only chunks follow init"))
                read[0] += len(message.chunk)
                yield message.chunk

        first = True
        async for sealed in aencrypt_stream(recipient, plaintext(), metadata=metadata):
            if first:
                yield pb.EncryptStreamResponse(header=pb.EncryptStreamHeader(
                    total_size=envelope_size(len(sealed), total_size) if total_size else 0,
                    algorithm=pb.Algorithm(**operations.algorithm(recipient))))
                first = False
            digest.update(sealed)
            yield pb.EncryptStreamResponse(chunk=sealed)
        self._app[METRICS].bytes_encrypted.inc(read[0])
        self._app[USAGE].encrypted(credential, recipient.cifer_id, read[0])  # a whole envelope: one use
        yield pb.EncryptStreamResponse(complete=pb.EncryptStreamComplete(checksum=digest.digest()))

    @measured
    async def DecryptStream(self, requests, context):  # noqa: N802
        """Envelope chunks (an `init` first is optional), answered `header`, plaintext chunks and
        `complete` (SHA-256 of the plaintext). No plaintext leaves before its chunk authenticates; a
        truncated or altered envelope ends the call with INVALID_ARGUMENT, never a clean end."""
        opened: dict[str, Any] = {}

        async def open_key(header):
            values.require_aad(header.metadata, None)  # as REST's: AAD-bound envelopes open through seed 001 only
            opened["header"] = header
            released, opened["passed"] = await operations.release(self._app, opened["credential"], header,
                                                                  request_id=opened["request_id"])
            return released.data_key

        async def envelope():
            async for message in requests:
                if message.WhichOneof("data") == "chunk":
                    yield message.chunk

        async def begin(credential: str, request_id: str):
            opened["credential"], opened["request_id"] = credential, request_id
            return None, {}
        await self._run(context, begin, stream=True)
        digest, started = hashlib.sha256(), False
        try:
            async for plain in adecrypt_stream(envelope(), open_key):
                if not started:
                    yield self._decrypt_header(opened)
                    started = True
                digest.update(plain)
                self._app[METRICS].bytes_decrypted.inc(len(plain))
                yield pb.DecryptStreamResponse(chunk=plain)
        except (ApiError, InvalidCiphertext) as exc:
            if isinstance(exc, InvalidCiphertext) and "passed" in opened:  # the payload failed, not the header
                self._app[USAGE].payload_failed(opened["credential"], opened["header"].cifer_id)
            await abort(context, exc if isinstance(exc, ApiError) else ApiError(ErrorCode.INVALID_CIPHERTEXT))
        if not started:
            if "header" not in opened:  # nothing came: no envelope at all
                await abort(context, ApiError(ErrorCode.INVALID_CIPHERTEXT))
            yield self._decrypt_header(opened)
        context.set_trailing_metadata(figures(opened["passed"]))
        yield pb.DecryptStreamResponse(complete=pb.DecryptStreamComplete(checksum=digest.digest()))

    @staticmethod
    def _decrypt_header(opened: dict[str, Any]) -> pb.DecryptStreamResponse:
        header = opened["header"]
        return pb.DecryptStreamResponse(header=pb.DecryptStreamHeader(
            cifer_id=header.cifer_id, key_version=header.key_version, metadata=dict(header.metadata)))

    async def _answer_or_abort(self, context, awaitable):
        try:
            return await awaitable
        except ApiError as error:
            await abort(context, error)


def envelope_size(header_bytes: int, plaintext_bytes: int) -> int:
    """An envelope's size (docs/envelope.md): its header, the plaintext, and a tag per chunk (one at least)."""
    chunks = max(1, -(-plaintext_bytes // DEFAULT_CHUNK_SIZE))
    return header_bytes + plaintext_bytes + TAG_BYTES * chunks


SERVICE = pb.DESCRIPTOR.services_by_name["CiferService"].full_name
HEALTH_INTERVAL_S = 5.0


async def _follow_health(app: web.Application, health: health_aio.HealthServicer) -> None:
    """grpc.health.v1 says what REST's /v1/health says (the sidecar and its key service), every few seconds."""
    while True:
        serving = health_pb2.HealthCheckResponse.SERVING
        for check in app[HEALTH_CHECKS].values():
            try:
                await check()
            except Exception:  # noqa: BLE001 - a failing check is the finding; REST's route logs it
                serving = health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE):
            await health.set(name, serving)
        await asyncio.sleep(HEALTH_INTERVAL_S)


async def serve(app: web.Application):
    """The gRPC server's life, as the aiohttp application's cleanup context: started with it on
    the sidecar's host and `grpc_port`, with standard health checking and server reflection, and
    stopped with it (calls under way get a grace second)."""
    settings = app[SETTINGS]
    # SO_REUSEPORT off (gRPC's default is on): a second sidecar or `cifer dev` on the same port must
    # fail to start, not share the port's calls with the first.
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", settings.max_json_body_bytes),
                                      ("grpc.so_reuseport", 0)])
    cifer_pb2_grpc.add_CiferServiceServicer_to_server(CiferServicer(app, CallMetrics(app[REGISTRY])), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection((SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                         reflection.SERVICE_NAME), server)
    try:
        server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    except RuntimeError:  # grpc.aio's word for a port it cannot bind
        raise CannotListen(f"cannot listen for gRPC on {settings.host}:{settings.grpc_port} (in use?); "
                           "--grpc-port names another port, 0 none") from None
    await server.start()
    following = asyncio.create_task(_follow_health(app, health))
    log.info("gRPC listening on %s:%d", settings.host, settings.grpc_port)
    try:
        yield
    finally:
        following.cancel()
        await health.enter_graceful_shutdown()
        await server.stop(grace=1.0)
