"""Sends one signed body to a receiver, within the egress rules: the key service's webhook
deliveries and the sidecar's batch callbacks go out through this, and only this."""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp
import yarl

from cifer.webhooks import egress, signing

log = logging.getLogger("cifer.webhooks")
MAX_RESPONSE_BYTES = 1024  # read, never stored or logged: a receiver's body is not ours to keep


class SignedSender:
    def __init__(self, *, timeout_s: float, allow_private_networks: bool, user_agent: str,
                 clock: Callable[[], float]) -> None:
        """`allow_private_networks`: let receivers be on loopback or private addresses (see egress).
        `clock`: unix seconds, for the signed timestamp."""
        self._timeout_s = timeout_s
        self._allow_private = allow_private_networks
        self._user_agent = user_agent
        self._clock = clock
        self._http: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = None if self._allow_private else aiohttp.TCPConnector(resolver=egress.PublicOnlyResolver())
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),  # a receiver cannot set state in our requests
                headers={"User-Agent": self._user_agent},
            )
        return self._http

    async def send(self, url: str, body: bytes, *, secret: str, event_id: str) -> str | None:
        """None if the receiver answered 2xx; otherwise what failed, in words safe to store."""
        if not self._allow_private:
            ip = egress.literal_ip(yarl.URL(url).host or "")
            if ip is not None and not egress.is_public(ip):
                return "refused: not a public address"
        headers = signing.headers(secret, body, event_id=event_id, timestamp=int(self._clock()))
        try:
            async with self._client().post(url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.content.read(MAX_RESPONSE_BYTES)
                return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, egress.PrivateAddressRefused):
                return "refused: not a public address"
            return f"connection failed ({type(exc).__name__})"
        except aiohttp.ClientError as exc:
            return f"connection failed ({type(exc).__name__})"
        except Exception as exc:  # a bug must not stop the other sends
            log.exception("a signed send failed")
            return f"send failed ({type(exc).__name__})"

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
