"""Whose credential a call carries to the key service.

An application that sends `Authorization: Bearer ...` is itself the caller, and its header is
forwarded. One that sends none is acting as its pod: the sidecar lends the pod's identity (its
projected ServiceAccount token, reread on every use, or `CIFER_API_KEY` as in seed §10.4), but
only while it listens on loopback, where the only callers are the pod's own containers, and only
to a request that names a loopback host (`Host: localhost:8080`, `127.0.0.1:8080`, `[::1]:8080`):
a browser tricked into calling the sidecar through a rebound DNS name sends that name instead.
A caller's own Authorization must be visible ASCII (`cifer.api.credentials`), or it is a 401.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from pathlib import Path

from aiohttp import web

from cifer.api.credentials import authorization
from cifer.api.errors import ApiError, ErrorCode


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def names_loopback(request: web.BaseRequest) -> bool:
    """The request's Host header names a loopback host (any port); no Host names none."""
    host = request.headers.get("Host")
    if not host or any(c in host for c in "@/\\?#"):
        return False
    try:
        name = urllib.parse.urlsplit("//" + host).hostname
    except ValueError:
        return False
    return name is not None and is_loopback(name)


class Identity:
    def __init__(self, *, host: str, api_key: str | None, token_file: Path | None) -> None:
        self._lend = is_loopback(host) and (api_key is not None or token_file is not None)
        self._api_key = api_key
        self._token_file = token_file

    def _own(self) -> str | None:
        if not self._lend:
            return None
        if self._token_file is not None:
            try:
                token = self._token_file.read_text().strip()
            except OSError:
                raise ApiError(ErrorCode.SERVICE_UNAVAILABLE, "the pod's token cannot be read") from None
            if token:
                return f"Bearer {token}"
        return f"Bearer {self._api_key}" if self._api_key else None

    @property
    def lends(self) -> bool:
        """Whether this sidecar lends the pod's identity at all (it listens on loopback, with one)."""
        return self._lend

    def lent(self) -> str | None:
        """The pod's own credential, when this sidecar lends it (listening on loopback), for a
        transport whose callers are the pod's own by construction (gRPC: no browser speaks it)."""
        return self._own()

    def credential(self, request: web.Request) -> str | None:
        """The Authorization header to send on the caller's behalf, or None if there is none."""
        given = authorization(request)
        if given is not None:
            return given
        return self._own() if names_loopback(request) else None

    def required(self, request: web.Request) -> str:
        credential = self.credential(request)
        if credential is None:
            raise ApiError(ErrorCode.UNAUTHORIZED)
        return credential
