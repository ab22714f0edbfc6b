"""Where webhook deliveries may go: public addresses only, unless private networks are allowed.

Anyone who may register a webhook could otherwise make the key service POST to loopback,
cluster services or a cloud metadata endpoint (SSRF). The check runs on the addresses the
connection will actually use (after DNS), so a name that resolves to a private address,
or is re-pointed at one after registration (DNS rebinding), is refused too.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from cifer.api.schemas import MAX_WEBHOOK_URL_CHARS

_URI_TEXT = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")  # RFC 3986's characters


def receiver_url_problem(value: Any) -> str | None:
    """What is wrong with a receiver's URL (a webhook's, a batch callback's), or None: an absolute
    http(s) URL of RFC 3986 characters, with a host and no credentials."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_WEBHOOK_URL_CHARS:
        return f"must be a string of 1 to {MAX_WEBHOOK_URL_CHARS} characters"
    if not _URI_TEXT.fullmatch(value):
        return "must be an absolute http(s) URL of RFC 3986 characters, without spaces"
    scheme, sep, rest = value.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:  # also "https://@host": yarl would drop the empty userinfo silently
        return "must not carry credentials"
    try:
        parsed = URL(value)
        port = parsed.port
    except ValueError:
        return "is not a valid URL"
    if not sep or parsed.scheme not in ("http", "https") or not parsed.host or port is None:
        return "must be an absolute http(s) URL"
    return None


class PrivateAddressRefused(OSError):
    """The receiver's address is not public and private networks are not allowed."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_ip(host: str) -> str | None:
    """The host if it is an IP literal (aiohttp connects to those without asking a resolver)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class PublicOnlyResolver(AbstractResolver):
    """Resolves as usual, then keeps only public addresses; none left is a refusal."""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        answers = [a for a in await self._inner.resolve(host, port, family) if is_public(a["host"])]
        if not answers:
            raise PrivateAddressRefused(f"{host} does not resolve to a public address")
        return answers

    async def close(self) -> None:
        await self._inner.close()
