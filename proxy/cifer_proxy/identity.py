"""Whose credential a call carries to the key service.

An application that sends `Authorization: Bearer ...` is itself the caller, and its header is
forwarded. One that sends none is acting as its pod: the sidecar lends the pod's identity (its
projected ServiceAccount token, reread on every use, or `CIFER_API_KEY` as in seed §10.4), but
only while it listens on loopback, where the only callers are the pod's own containers.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    def credential(self, request: web.Request) -> str | None:
        """The Authorization header to send on the caller's behalf, or None if there is none."""
        given = request.headers.get("Authorization")
        return given if given else self._own()

    def required(self, request: web.Request) -> str:
        credential = self.credential(request)
        if credential is None:
            raise ApiError(ErrorCode.UNAUTHORIZED)
        return credential
