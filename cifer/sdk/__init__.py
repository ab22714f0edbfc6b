"""The Python SDK (seed 000 §6.4): `CiferClient` (blocking) and `AsyncCiferClient` (asyncio),
their gRPC twins `CiferGrpcClient` and `AsyncCiferGrpcClient`, their results, and their errors.

Names load on first use, so `from cifer.sdk.errors import ...` or a webhook receiver using
`cifer.sdk.webhooks` does not pull in aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cifer import lazy

_ERRORS = (
    "CiferError", "InvalidRequestError", "InvalidCiferIdError", "InvalidCiphertextError", "AuthenticationError",
    "PermissionDeniedError", "UnauthorizedDecryptError", "NotFoundError", "CiferRevokedError", "RateLimitError",
    "InternalError", "ServiceUnavailableError", "CiferConnectionError", "StreamError", "CircuitOpenError",
)
_MODELS = (
    "Algorithm", "Cifer", "CiferPage", "DecryptResult", "Delivery", "EncryptResult", "PublicKey", "Revocation",
    "Rotation", "Webhook", "WebhookDeletion", "WebhookPage",
)
EXPORTS: dict[str, str] = {
    "CiferClient": "cifer.sdk.sync_client",
    "AsyncCiferClient": "cifer.sdk.async_client",
    "CiferGrpcClient": "cifer.sdk.grpc_client",  # grpc itself is imported when one is made
    "AsyncCiferGrpcClient": "cifer.sdk.grpc_client",
    "RetryPolicy": "cifer.sdk.retry",
    "CircuitBreaker": "cifer.sdk.breaker",
    "RequestEvent": "cifer.sdk.hooks",
    "EncryptStream": "cifer.sdk.streams",
    "DecryptStream": "cifer.sdk.streams",
    "verify_signature": "cifer.sdk.webhooks",
    **{name: "cifer.sdk.errors" for name in _ERRORS},
    **{name: "cifer.sdk.models" for name in _MODELS},
}
"""Public name -> the module that defines it."""
__all__ = sorted(EXPORTS)


__getattr__, __dir__ = lazy.exports(__name__, EXPORTS)


if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ does this lazily
    from cifer.sdk.async_client import AsyncCiferClient
    from cifer.sdk.errors import (
        AuthenticationError, CiferConnectionError, CiferError, CiferRevokedError, CircuitOpenError, InternalError,
        InvalidCiferIdError, InvalidCiphertextError, InvalidRequestError, NotFoundError, PermissionDeniedError,
        RateLimitError, ServiceUnavailableError, StreamError, UnauthorizedDecryptError,
    )
    from cifer.sdk.models import (
        Algorithm, Cifer, CiferPage, DecryptResult, Delivery, EncryptResult, PublicKey, Revocation, Rotation,
        Webhook, WebhookDeletion, WebhookPage,
    )
    from cifer.sdk.breaker import CircuitBreaker
    from cifer.sdk.grpc_client import AsyncCiferGrpcClient, CiferGrpcClient
    from cifer.sdk.hooks import RequestEvent
    from cifer.sdk.retry import RetryPolicy
    from cifer.sdk.streams import DecryptStream, EncryptStream
    from cifer.sdk.sync_client import CiferClient
    from cifer.sdk.webhooks import verify_signature
