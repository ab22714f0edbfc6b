"""The gRPC client's unary calls (docs/grpc.md): each RPC's request built from the SDK's arguments,
its answer parsed into the SDK's own models (the fields REST's answer has, under REST's names), and a
failed call's status turned into the SDK's typed error by the ErrorInfo's reason (the seed's code)
through errors.py's one table.

Imported only once a gRPC client is made: it imports grpc, which the base install does not have.
A resource's methods return what the client's `call` returns, so one definition serves the blocking
client (the answer) and the asyncio one (an awaitable of it).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cifer.api.errors import ErrorCode
from cifer.api.grpc_codes import DOMAIN
from cifer.envelope import format as envelope_format
from cifer.exceptions import InvalidCiphertext
from cifer.sdk.errors import ERROR_CLASSES, CiferConnectionError, CiferError, parse_retry_after
from cifer.sdk.models import (
    Algorithm, Cifer, CiferPage, DecryptResult, EncryptResult, PublicKey, Revocation, Rotation, invalid_response,
)
from cifer.sdk.transport import checked_idempotency_key, new_idempotency_key
from cifer.v1 import cifer_pb2 as pb

T = TypeVar("T")
POLICY_FIELDS = frozenset({"auto_rotate_days", "allowed_operations"})  # what the seed's CiferPolicy holds
NO_ANSWER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)  # as REST's "no HTTP answer"


class Call(Protocol):
    """`call(rpc, request, parse, idempotency_key=None)`: the client's way of making one unary call."""

    def __call__(self, rpc: str, request: Message, parse: Callable[[Any], T], *,
                 idempotency_key: str | None = None) -> Any: ...


# --- errors -------------------------------------------------------------------------------------------

def error_of(exc: grpc.RpcError, target: str) -> CiferError:
    """The typed error for a failed call: by its ErrorInfo's reason through errors.py's table, keeping
    the message, the details (strings, as ErrorInfo carries them) and RetryInfo's delay; a status
    without CIFER's ErrorInfo (UNAVAILABLE: nobody listens) is a connection error, or a plain one."""
    code = exc.code()
    # A unary call's id trails with its status; a stream's came first.
    request_id = (first_metadata(exc.trailing_metadata(), "x-request-id")
                  or first_metadata(exc.initial_metadata(), "x-request-id"))
    info, retry = None, None
    try:
        status = rpc_status.from_call(exc)
    except ValueError:  # the rich status contradicts the call's own code: trust neither detail
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR) and info is None:
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR) and retry is None:
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
    if info is not None and info.domain == DOMAIN and info.reason:
        retry_after = (retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9 if retry is not None
                       else parse_retry_after(first_metadata(exc.trailing_metadata(), "retry-after")))
        known = ErrorCode.__members__.get(info.reason)
        cls = ERROR_CLASSES.get(info.reason, CiferError)
        return cls(status.message or exc.details() or (known.default_message if known else info.reason),
                   code=info.reason, status=known.status if known else None, details=dict(info.metadata),
                   request_id=request_id, retry_after=retry_after)
    if code in NO_ANSWER:
        error: CiferError = CiferConnectionError(
            f"no answer from the CIFER gRPC API at {target}: {code.name}: {exc.details() or 'no detail'}",
            request_id=request_id)
        error.__cause__ = exc
        return error
    return CiferError(f"the CIFER gRPC API at {target} failed with {code.name}: {exc.details() or 'no detail'}",
                      code=f"GRPC_{code.name}", request_id=request_id)


def first_metadata(metadata: Any, key: str) -> str | None:
    for name, value in metadata or ():
        if name == key and isinstance(value, str):
            return value
    return None


# --- requests -----------------------------------------------------------------------------------------

def idempotency(key: str | None) -> str:
    """The call's key: the caller's (checked as REST's client checks it) or a fresh one, the same on retries."""
    return new_idempotency_key() if key is None else checked_idempotency_key(key)


def policy_message(policy: Mapping[str, Any]) -> pb.CiferPolicy:
    """The seed's CiferPolicy. REST's other policy fields have no place in it, and are refused rather
    than dropped: a cifer made without its `allowed_principals` would be wider open than asked."""
    extra = sorted(set(policy) - POLICY_FIELDS)
    if extra:
        raise ValueError(f"the gRPC API's CiferPolicy (seed §5.1) has no {', '.join(extra)}: "
                         "create this cifer with CiferClient (REST)")
    message = pb.CiferPolicy()
    if policy.get("auto_rotate_days") is not None:
        message.auto_rotate_days = policy["auto_rotate_days"]
    operations = policy.get("allowed_operations")
    if operations is not None:
        if isinstance(operations, str):
            raise TypeError("allowed_operations must be a sequence of operations, not one string")
        message.allowed_operations.extend(operations)
    return message


def encrypt_request(cifer_id: str, plaintext: bytes, metadata: Mapping[str, str] | None) -> pb.EncryptRequest:
    return pb.EncryptRequest(cifer_id=checked_id(cifer_id), plaintext=_bytes(plaintext, "plaintext"),
                             metadata=dict(metadata or {}))


def checked_id(cifer_id: str) -> str:
    if not isinstance(cifer_id, str) or not cifer_id:
        raise TypeError("cifer_id must be a non-empty string")
    return cifer_id


def _bytes(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


# --- answers, as REST's `data` would be -----------------------------------------------------------------

def _time(message: Message, field: str) -> str | None:
    return getattr(message, field).ToJsonString() if message.HasField(field) else None


def _status(value: int) -> str | None:
    """CIFER_STATUS_ACTIVE -> "active", REST's spelling; UNSPECIFIED -> None."""
    if value == pb.CIFER_STATUS_UNSPECIFIED:
        return None
    return pb.CiferStatus.Name(value).removeprefix("CIFER_STATUS_").lower()


def _given(data: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in data.items() if value is not None}


def cifer_of(message: pb.CiferResponse) -> Cifer:
    data = _given({
        "cifer_id": message.cifer_id, "name": message.name or None, "description": message.description or None,
        "status": _status(message.status), "owner_id": message.owner_id or None,
        "key_version": message.key_version or None, "metadata": dict(message.metadata),
        "created_at": _time(message, "created_at"), "updated_at": _time(message, "updated_at"),
        "encapsulation_key": base64.b64encode(message.encapsulation_key).decode() if message.encapsulation_key else None,
    })
    if message.HasField("policy"):
        data["policy"] = {"auto_rotate_days": message.policy.auto_rotate_days or None,
                          "allowed_operations": list(message.policy.allowed_operations)}
    return Cifer.from_api(data)


def page_of(message: pb.ListCifersResponse) -> CiferPage:
    return CiferPage(cifers=[cifer_of(item) for item in message.cifers], has_more=message.has_more,
                     next_cursor=message.next_cursor or None,
                     raw={"has_more": message.has_more, "next_cursor": message.next_cursor or None})


def rotation_of(message: pb.RotateKeyResponse) -> Rotation:
    return Rotation.from_api(_given({
        "cifer_id": message.cifer_id, "old_key_version": message.old_key_version,
        "new_key_version": message.new_key_version,
        "new_encapsulation_key": base64.b64encode(message.new_encapsulation_key).decode(),
        "rotation_initiated_at": _time(message, "rotation_initiated_at"),
        "re_encryption_deadline": _time(message, "re_encryption_deadline"),
    }))


def revocation_of(message: pb.RevokeCiferResponse) -> Revocation:
    return Revocation.from_api(_given({
        "cifer_id": message.cifer_id, "status": _status(message.status), "revoked_at": _time(message, "revoked_at"),
        "warning": message.warning or None,
    }))


def public_key_of(message: pb.GetPublicKeyResponse) -> PublicKey:
    """REST's `algorithm` is the KEM; the AEAD and `expires_at` stay in `raw`, as REST's extra fields do."""
    return PublicKey.from_api(_given({
        "cifer_id": message.cifer_id, "encapsulation_key": base64.b64encode(message.encapsulation_key).decode(),
        "key_version": message.key_version, "algorithm": message.algorithm.kem or None,
        "aead": message.algorithm.aead or None, "valid_until": _time(message, "valid_until"),
        "expires_at": _time(message, "expires_at"),
    }))


def envelope_header(envelope: bytes | memoryview) -> envelope_format.Header | None:
    """The envelope's header (the cifer, key version and metadata it was sealed with), read by the one
    module that reads envelope bytes; None when `envelope` holds only part of it."""
    try:
        return envelope_format.parse_header(envelope)[0]
    except envelope_format.Incomplete:
        return None
    except InvalidCiphertext:
        raise invalid_response("the envelope's header is malformed") from None


def encrypt_result(message: pb.EncryptResponse) -> EncryptResult:
    """REST's answer also names the cifer, key version and metadata; the envelope's header says them."""
    header = envelope_header(message.ciphertext)
    if header is None:
        raise invalid_response("the envelope is shorter than its header")
    algorithm = {"kem": message.algorithm.kem or None, "aead": message.algorithm.aead or None}
    raw = {"encoding": "base64", "envelope_size": message.envelope_size, "algorithm": algorithm,
           "metadata": dict(header.metadata), "cifer_id": header.cifer_id, "key_version": header.key_version}
    return EncryptResult(ciphertext=message.ciphertext, envelope_size=message.envelope_size or len(message.ciphertext),
                         algorithm=Algorithm(**algorithm), metadata=dict(header.metadata), cifer_id=header.cifer_id,
                         key_version=header.key_version, raw=raw)


def decrypt_result(message: pb.DecryptResponse) -> DecryptResult:
    return DecryptResult(plaintext=message.plaintext, cifer_id=message.cifer_id or None,
                         key_version=message.key_version or None, metadata=dict(message.metadata))


# --- the management surface, as REST's client.cifers and client.keys ----------------------------------

class Cifers:
    """`client.cifers` over gRPC: create, get, list, rotate, revoke (REST's `update` has no RPC)."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def create(
        self, name: str | None = None, *, description: str | None = None, metadata: Mapping[str, str] | None = None,
        policy: Mapping[str, Any] | None = None, algorithm: str | None = None, idempotency_key: str | None = None,
    ) -> Any:
        """A new CIFER, as REST's `create`. The seed's CreateCiferRequest has no algorithm and its
        policy only `auto_rotate_days` and `allowed_operations`: asking for more is a ValueError."""
        if algorithm is not None:
            raise ValueError("the gRPC API's CreateCiferRequest (seed §5.1) has no algorithm: "
                             "create this cifer with CiferClient (REST)")
        request = pb.CreateCiferRequest(name=name or "", description=description or "", metadata=dict(metadata or {}))
        if policy is not None:
            request.policy.CopyFrom(policy_message(policy))
        return self._call("CreateCifer", request, cifer_of, idempotency_key=idempotency(idempotency_key))

    def get(self, cifer_id: str) -> Any:
        return self._call("GetCifer", pb.GetCiferRequest(cifer_id=checked_id(cifer_id)), cifer_of)

    def list(self, status: str | None = None, limit: int = 20, cursor: str | None = None) -> Any:
        """One page, ordered by id; `status` is `active` or `revoked`."""
        request = pb.ListCifersRequest(limit=limit, cursor=cursor or "")
        if status is not None:
            name = f"CIFER_STATUS_{status.upper()}" if isinstance(status, str) else ""
            if name not in pb.CiferStatus.keys() or name == "CIFER_STATUS_UNSPECIFIED":
                raise ValueError(f"status must be 'active' or 'revoked', not {status!r}")
            request.status = pb.CiferStatus.Value(name)
        return self._call("ListCifers", request, page_of)

    def rotate(self, cifer_id: str, re_encryption_window_days: int | None = None, *,
               reason: str | None = None, idempotency_key: str | None = None) -> Any:
        request = pb.RotateKeyRequest(cifer_id=checked_id(cifer_id), reason=reason or "")
        if re_encryption_window_days is not None:
            request.re_encryption_window_days = re_encryption_window_days
        return self._call("RotateKey", request, rotation_of, idempotency_key=idempotency(idempotency_key))

    def revoke(self, cifer_id: str) -> Any:
        """Irreversible; calling this method is the confirmation (it sends `confirm: true`)."""
        return self._call("RevokeCifer", pb.RevokeCiferRequest(cifer_id=checked_id(cifer_id), confirm=True), revocation_of)


class Keys:
    """`client.keys` over gRPC: the public key (seed §4.7)."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def get(self, cifer_id: str) -> Any:
        return self._call("GetPublicKey", pb.GetPublicKeyRequest(cifer_id=checked_id(cifer_id)), public_key_of)
