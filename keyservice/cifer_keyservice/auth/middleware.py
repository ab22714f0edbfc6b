"""Authentication and scopes: every route but the public ones needs `Authorization: Bearer ...`
(`authenticate`), and a principal holding the scope the endpoint table names (`authorize`).

An `sk_test_`/`sk_live_` token is an API key. Any other bearer token is a JWT of one of two
kinds, told apart by its (unverified) `iss`: one claiming the configured OIDC issuer goes to the
OIDC verifier only (auth/oidc.py); any other to the Kubernetes TokenReview only (a pod's projected
ServiceAccount token), when one is configured. A token is never offered to a verifier that is not
its issuer's: the API server is not shown an IdP's tokens, nor the IdP's JWKS fetched for a pod's.
Every failure is the same 401: no hint of which check failed.

A principal named in `admin_principals` (the control plane: the operator's ServiceAccount) holds
the admin scope besides its own, whichever kind of credential proved it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from cifer.api.credentials import bearer_token
from cifer.api.endpoints import KEYSERVICE, endpoint_of
from cifer.api.errors import ApiError, ErrorCode
from cifer_keyservice.auth.principal import PRINCIPAL, Principal
from cifer_keyservice.state import SETTINGS

Authenticator = Callable[[str], Awaitable[Principal | None]]
API_KEY_AUTH = web.AppKey("api_key_auth", Authenticator)
TOKEN_AUTHS = web.AppKey("token_auths", Sequence[Authenticator])  # TokenReview, OIDC: tried in order


@web.middleware
async def authenticate(request: web.Request, handler):
    """API keys by their prefix; any other bearer token goes to each token authenticator in turn.
    Public endpoints need none, and a request that matched no route is left to be a 404 or 405;
    a route missing from the endpoint table needs a credential (fail closed)."""
    endpoint = endpoint_of(request, KEYSERVICE)
    if request.match_info.route.resource is None or (endpoint is not None and endpoint.public):
        return await handler(request)
    token = bearer_token(request)
    principal = None
    if token.startswith(("sk_test_", "sk_live_")):
        principal = await request.app[API_KEY_AUTH](token)
    else:
        for authenticator in request.app[TOKEN_AUTHS]:
            principal = await authenticator(token)
            if principal is not None:
                break
    if principal is None:
        raise ApiError(ErrorCode.UNAUTHORIZED)
    if principal.id in request.app[SETTINGS].admin_principals and not principal.is_admin:
        principal = dataclasses.replace(principal, scopes=principal.scopes | {"admin"})
    request[PRINCIPAL] = principal
    return await handler(request)


@web.middleware
async def authorize(request: web.Request, handler):
    """403 FORBIDDEN unless the principal holds the scope the endpoint table names; innermost, so
    that a refusal is kept for an idempotent replay like any answer, and given back by the rate limiter."""
    principal = request.get(PRINCIPAL)
    if principal is not None:
        endpoint = endpoint_of(request, KEYSERVICE)
        if endpoint is None:  # a route nobody declared: admins only
            principal.require("admin")
        elif endpoint.scope is not None:
            principal.require(endpoint.scope)
    return await handler(request)
