"""The sidecar's client for the key service: public keys, credential checks, decapsulation
of envelope headers (data keys sealed to the sidecar's recipient key), and lifecycle calls passed
through.

The key service answers in the seed's response body; its errors come back as the same `ApiError`
(code, message, details, and Retry-After / X-RateLimit-* headers), so a caller of the sidecar
sees what the key service said. A key service that cannot be reached, or answers garbage, is a
503: the sidecar never turns an outage into a client error.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from cifer.api.errors import ApiError, ErrorCode
from cifer.api.schemas import REPLAYED_HEADER
from cifer.keyrelease import InvalidKeyRelease, RecipientKey
from cifer.tls import client_context

log = logging.getLogger("cifer.proxy")
# Headers of the key service's answers that a caller of the sidecar must see too.
PASSED_BACK = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Allow",
               REPLAYED_HEADER)
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # lists of cifers, audit pages: far below this


class KeyServiceClient:
    def __init__(self, base_url: str, *, timeout_s: float, ca: str | None = None) -> None:
        """`ca`: the CA bundle (a file or PEM text) an https key service is verified against;
        None: the system's trust store. A certificate it does not vouch for fails the handshake
        before anything is sent, and the call is a 503 like any unreachable key service."""
        self._base_url = base_url.rstrip("/")
        # No cookie jar: a cookie the key service sets is its caller's (a browser's login), never the sidecar's.
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s),
                                           connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30,
                                                                          ssl=client_context(ca)),
                                           cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        await self._http.close()

    async def call(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                   body: bytes | None = None, json_body: Any = None,
                   keep: Sequence[str] = (), max_bytes: int | None = None) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers to pass back and those named in `keep`) of one call; ApiError(503)
        if it cannot be made."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            async with self._http.request(method, self._base_url + path, headers=headers, data=body) as resp:
                answer = await _read_whole(resp, MAX_ANSWER_BYTES if max_bytes is None else max_bytes)
                passed = {name: resp.headers[name] for name in (*PASSED_BACK, *keep) if name in resp.headers}
                return resp.status, answer, passed
        except aiohttp.ClientConnectorCertificateError as exc:  # the reason names no secret
            log.error("key service refused: its certificate does not verify (%s)",
                      getattr(exc.certificate_error, "verify_message", None) or type(exc.certificate_error).__name__)
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service cannot be reached") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.error("key service unreachable: %s", type(exc).__name__)
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service cannot be reached") from None

    async def relay(self, method: str, path: str, *, headers: Mapping[str, str], body: bytes | None,
                    keep: Sequence[str]) -> tuple[int, bytes, list[tuple[str, str]]]:
        """(status, body, the headers named in `keep`, each as often as it came) of one call whose
        answer passes back as it is: a redirect is not followed, a cookie not kept."""
        try:
            async with self._http.request(method, self._base_url + path, headers=headers, data=body,
                                          allow_redirects=False) as resp:
                answer = await _read_whole(resp, MAX_ANSWER_BYTES)
                wanted = {name.lower() for name in keep}
                return resp.status, answer, [(k, v) for k, v in resp.headers.items() if k.lower() in wanted]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.error("key service unreachable: %s", type(exc).__name__)
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service cannot be reached") from None

    async def data(self, method: str, path: str, **kwargs: Any) -> tuple[Any, dict[str, str]]:
        """The `data` of a successful answer; the key service's own error, raised, otherwise."""
        status, answer, passed = await self.call(method, path, **kwargs)
        body = response_body(answer)
        if 200 <= status < 300 and body.get("success") is True:
            return body.get("data"), passed
        raise _error_of(status, body, passed)

    async def public_key(self, cifer_id: str) -> dict[str, Any]:
        data, _ = await self.data("GET", f"/v1/keys/{cifer_id}")
        return data

    async def find_keys(self, authorization: str, *, key_id: str | None = None, user_id: str = "",
                        key_type: str = "") -> list[dict[str, Any]]:
        """Seed 001's key `key_id`, or the keys of a user and key type newest first, with the caller's
        credential (`GET /api/security/keys[/{keyId}]`)."""
        path = (f"/api/security/keys/{key_id}" if key_id else
                "/api/security/keys?" + urllib.parse.urlencode({"userId": user_id, "keyType": key_type}))
        data, _ = await self.data("GET", path, headers={"Authorization": authorization})
        keys = ([data] if key_id else data.get("keys")) if isinstance(data, dict) else None
        if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service answered a key search without keys")
        return keys

    async def whoami(self, authorization: str) -> tuple[dict[str, Any], float | None]:
        """The credential's principal and scopes, and for how long the key service lets that answer
        be reused (its `Cache-Control: max-age`; None when it sets none)."""
        data, passed = await self.data("GET", "/v1/whoami", headers={"Authorization": authorization},
                                       keep=("Cache-Control",))
        return data, max_age(passed.get("Cache-Control"))

    async def decapsulate(self, authorization: str | None, headers: Sequence[bytes], *, request_id: str,
                          recipient_key: RecipientKey, contexts: Sequence[Mapping[str, str] | None] = ()
                          ) -> tuple[list[Released | ApiError], dict[str, str]]:
        """Each envelope header's data key, or the key service's error for that header, in order; and
        the rate-limit headers. Only the headers go out, with `recipient_key`'s public half; the data
        keys come back sealed to it (docs/key-release.md) and are opened here. A failure of the whole
        call (and of a lone header, which the key service answers as the call's own error) is raised."""
        sent = {"X-Request-ID": request_id}
        if authorization:
            sent["Authorization"] = authorization
        body = {"headers": [base64.b64encode(header).decode() for header in headers],
                "recipient": recipient_key.recipient.to_field()}
        if any(contexts):
            body["contexts"] = list(contexts)
        data, passed = await self.data("POST", "/v1/decapsulate", headers=sent, json_body=body)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list) or len(results) != len(headers):
            log.error("the key service answered a decapsulation without one result per header")
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE)
        return [_data_key_of(result, header, recipient_key, passed) for result, header in zip(results, headers)], passed


@dataclasses.dataclass(frozen=True)
class Released:
    """A data key the key service released, and the id of the audit record of its release."""

    data_key: bytes
    audit_record_id: str


def _data_key_of(result: object, header: bytes, recipient_key: RecipientKey, passed: dict[str, str]) -> Released | ApiError:
    """One result's data key, opened; its error as a lone header's would be; 503 for anything garbled."""
    if isinstance(result, dict) and result.get("success") is False:
        return _error_of(200, result, passed)
    try:
        if isinstance(result, dict) and result.get("success") is True:
            return Released(recipient_key.open(result.get("sealed_data_key"), header),
                            str(result.get("audit_record_id", "")))
    except InvalidKeyRelease:
        pass
    log.error("the key service answered a decapsulation without a sealed data key that opens")
    return ApiError(ErrorCode.SERVICE_UNAVAILABLE)


async def _read_whole(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole answer, up to `max_bytes` (`content.read(n)` returns what has arrived so far)."""
    answer = bytearray()
    async for piece in resp.content.iter_any():
        answer += piece
        if len(answer) > max_bytes:
            raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the key service's answer is too large")
    return bytes(answer)


def max_age(cache_control: str | None) -> float | None:
    """The `max-age` of a Cache-Control value in seconds; None when it has none that parses."""
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.isdigit():
            return float(value)
    return None


def response_body(answer: bytes) -> dict[str, Any]:
    """The key service's answer as a JSON object; {} when it is not one."""
    try:
        body = json.loads(answer)
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = None
    return body if isinstance(body, dict) else {}


def _error_of(status: int, body: dict[str, Any], passed: dict[str, str]) -> ApiError:
    error = body.get("error")
    if not isinstance(error, dict) or error.get("code") not in ErrorCode.__members__:
        log.error("the key service answered %d without a CIFER error body", status)
        return ApiError(ErrorCode.SERVICE_UNAVAILABLE)
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    message = error.get("message") if isinstance(error.get("message"), str) else None
    return ApiError(ErrorCode[error["code"]], message, details, headers=passed)
