"""Who is calling, once authenticated: an id and the scopes it was granted."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from cifer_keyservice.errors import Forbidden


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    id: str
    """`usr_...` for an API key's owner, `system:serviceaccount:NS:NAME`, or `oidc:ISSUER#SUBJECT`."""
    scopes: frozenset[str]
    kind: str  # api_key | serviceaccount | oidc
    reuse_s: float | None = dataclasses.field(default=None, compare=False)
    """How much longer this verification holds here without a fresh lookup (a remembered API key's
    remaining time); a sidecar that caches it must not keep it longer (`/v1/whoami`'s max-age).
    None: nothing is remembered here for it."""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def require(self, scope: str) -> None:
        """Forbidden unless the principal holds `scope` (admin holds every scope)."""
        if scope not in self.scopes and not self.is_admin:
            raise Forbidden(required_scope=scope)


PRINCIPAL = web.RequestKey("principal", Principal)
