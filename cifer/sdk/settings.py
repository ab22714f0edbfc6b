"""Where the SDK finds the sidecar and its key, and how long it waits: one frozen object.

The base URL is the `base_url` argument, else `$CIFER_PROXY_URL` (set in the app container by
seed §10.4's pod spec), else the sidecar's own `http://localhost:8080`. The API key is the
`api_key` argument, else `$CIFER_API_KEY`, else none: a sidecar may act for its pod with the
pod's own identity, so no key means no Authorization header rather than an error. `api_key` may
also be a function of no arguments returning the current bearer token, asked before every
request: a credential that changes over time, such as a projected ServiceAccount token file
that the kubelet rotates. Over https the server is verified against the `ca_file` argument,
else `$CIFER_CA_FILE`, else the system's trust store.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from yarl import URL

DEFAULT_BASE_URL = "http://localhost:8080"
BASE_URL_ENV = "CIFER_PROXY_URL"
API_KEY_ENV = "CIFER_API_KEY"
CA_FILE_ENV = "CIFER_CA_FILE"


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    base_url: str
    """Scheme, host and port (and any path prefix) of the API, without `/v1`."""
    api_key: str | Callable[[], str | None] | None = dataclasses.field(default=None, repr=False)  # never logged
    """Sent as `Authorization: Bearer <key>` when set; a callable is asked for it on every request."""
    timeout_s: float = 60.0
    """Whole-call limit for JSON calls (connect, send, answer)."""
    connect_timeout_s: float = 10.0
    """Limit on opening a connection, streams included."""
    stream_idle_timeout_s: float = 300.0
    """A stream fails when no byte arrives for this long; streams have no overall limit."""
    ca_file: str | None = None
    """CA bundle (a file, or the PEM text) an https server is verified against; None: the
    system's trust store."""

    @classmethod
    def resolve(cls, *, base_url: str | None = None, api_key: str | Callable[[], str | None] | None = None,
                ca_file: str | None = None, **limits: float) -> ClientSettings:
        url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        if url.endswith("/v1"):  # seed §1.3 writes base URLs with the version; the SDK adds it itself
            url = url[: -len("/v1")]
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {display_url(url)!r}")
        if api_key is not None and not isinstance(api_key, str) and not callable(api_key):
            raise TypeError("api_key must be a string or a function returning the current token")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        return cls(base_url=url, api_key=key or None, ca_file=ca_file or os.environ.get(CA_FILE_ENV) or None,
                   **limits)

    def bearer_token(self) -> str | None:
        """The credential to send now: the key, or what the key's function returns (None or an
        empty string: no Authorization header)."""
        token = self.api_key() if callable(self.api_key) else self.api_key
        if token is not None and not isinstance(token, str):
            raise TypeError(f"the api_key function returned {type(token).__name__}, not a string")
        return token or None

    @property
    def display_url(self) -> str:
        return display_url(self.base_url)


def display_url(url: str) -> str:
    """The URL without any user:password, for messages."""
    try:
        return str(URL(url).with_user(None))
    except (ValueError, TypeError):
        return "<unparseable URL>"
