"""The `Authorization` header as every CIFER server reads it: visible ASCII or nothing.

HTTP header values are bytes; aiohttp hands them over as UTF-8 with undecodable bytes escaped
(surrogates), which no later `.encode()` survives. So a credential is checked here, once, at the
edge: a value with any byte outside visible ASCII is a 401, never forwarded, hashed or cut.
"""

from __future__ import annotations

import re

from aiohttp import web

from cifer.api.errors import ApiError, ErrorCode

MAX_TOKEN_CHARS = 16 * 1024
"""Longest bearer token any verifier reads (IdP tokens with many groups reach a few KiB); the
servers' header limit (`cifer.api.server`) lets an Authorization header this long arrive."""
MAX_AUTHORIZATION_CHARS = MAX_TOKEN_CHARS + 64  # the scheme and its spaces
_VISIBLE_ASCII = re.compile(r"[\x20-\x7e]*")


def checked(value: str | None) -> str | None:
    """An Authorization value as it arrived (an HTTP header, gRPC metadata), or None when there is
    none (or an empty one). ApiError 401 for a value that is not visible ASCII or is longer than
    any token we read."""
    if not value:
        return None
    if len(value) > MAX_AUTHORIZATION_CHARS or not _VISIBLE_ASCII.fullmatch(value):
        raise ApiError(ErrorCode.UNAUTHORIZED)
    return value


def authorization(request: web.Request) -> str | None:
    """The request's Authorization header, `checked`."""
    return checked(request.headers.get("Authorization"))


def bearer_token(request: web.Request) -> str:
    """The token of `Authorization: Bearer TOKEN`; ApiError 401 for anything else."""
    scheme, _, token = (authorization(request) or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        raise ApiError(ErrorCode.UNAUTHORIZED)
    return token
