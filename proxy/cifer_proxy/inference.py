"""The pod's side of encrypted inference (seed 004): its CKKS keys, made on first use and kept
only in this process's memory, and its session with the inference service, which receives the
public context and ciphertexts only. TenSEAL is imported on first use, not with the sidecar."""

from __future__ import annotations

import asyncio
from typing import Any

from cifer.api.errors import ApiError, ErrorCode
from cifer.extras import MissingExtra, needs, require


def unavailable(reason: str) -> ApiError:
    return ApiError(ErrorCode.SERVICE_UNAVAILABLE, f"Encrypted inference is unavailable: {reason}")


class PodInference:
    def __init__(self, url: str | None, *, timeout_s: float, ca: str | None = None) -> None:
        """`ca`: the CA bundle (a file or PEM text) an https inference service is verified against."""
        self.url, self._timeout_s, self._ca = url, timeout_s, ca
        self._client: Any = None
        self._lock = asyncio.Lock()

    def require(self) -> None:
        """503 naming what is missing: an inference service for this pod, or the `[fhe]` extra."""
        if self.url is None:
            raise unavailable("no inference service is configured for this pod (cifer.io/inference)")
        try:
            for module in ("numpy", "tenseal"):  # the client's packing, and the keys it makes
                require(module, extra="fhe", feature="this sidecar")
        except MissingExtra:
            raise unavailable(needs("this sidecar", "fhe")) from None

    async def client(self) -> Any:
        """The registered client: keys made and the public context sent on the first call."""
        if self.url is None:
            raise unavailable("no inference service is configured for this pod (cifer.io/inference)")
        async with self._lock:
            if self._client is None:
                try:  # numpy now; TenSEAL at setup()
                    from cifer.fhe import AsyncFHEClient, FHEUnavailable
                except ModuleNotFoundError:
                    raise unavailable(needs("this sidecar", "fhe")) from None
                client = AsyncFHEClient(self.url, timeout_s=self._timeout_s, ca=self._ca)
                try:
                    await client.setup()
                    await client.register_keys()
                except FHEUnavailable:
                    await client.close()
                    raise unavailable(needs("this sidecar", "fhe")) from None
                except BaseException:
                    await client.close()
                    raise
                self._client = client
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
