"""OAuth 2.0's endpoints (seed 000 §3.3; docs/oauth.md): the authorization page (login, consent),
the token and revocation endpoints, the metadata and the JWKS. authlib (oauth/server.py) judges
each request; this is the aiohttp side: forms and cookies in, pages, redirects and JSON out, and an
audit record of every login, token, replay and revocation.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

from aiohttp import web
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from multidict import MultiDict

from cifer.api.endpoints import (OAUTH_AUTHORIZE, OAUTH_AUTHORIZE_FORM, OAUTH_JWKS, OAUTH_METADATA, OAUTH_REVOKE,
                                 OAUTH_TOKEN, route)
from cifer.api.response import REQUEST_ID
from cifer_keyservice.audit import Entry
from cifer_keyservice.clock import utcnow
from cifer_keyservice.oauth import OAUTH, OAuth, pages
from cifer_keyservice.oauth.clients import Client
from cifer_keyservice.oauth.logins import LOGIN_COOKIE, csrf_holds, csrf_token, set_cookies
from cifer_keyservice.oauth.server import AUTH_METHODS, Request, User
from cifer_keyservice.oauth.users import MAX_PASSWORD_CHARS, USERNAME, Outcome
from cifer_keyservice.settings import SCOPES

routes = web.RouteTableDef()
MAX_STATE_CHARS = 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def source(request: web.Request) -> str:
    """Who is at the other end: the peer, or the address a sidecar on loopback forwarded for."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    try:
        if forwarded and ipaddress.ip_address(peer).is_loopback:
            return str(ipaddress.ip_address(forwarded))
    except ValueError:
        pass
    return peer


async def _request(request: web.Request, oauth: OAuth) -> Request:
    form = await request.post() if request.method == "POST" else MultiDict()
    return Request(request.method, oauth.issuer + str(request.rel_url), request.headers, request.query, form)


def _answer(status: int, body: Any, headers: list[tuple[str, str]]) -> web.Response:
    """authlib's answer as aiohttp's: JSON, or an empty redirect."""
    response = web.Response(status=status, body=json.dumps(body) if isinstance(body, dict) else body or b"")
    for name, value in headers:
        response.headers[name] = value
    return response


def _entry(request: web.Request, operation: str, outcome: str, principal: str, **details: Any) -> Entry:
    return Entry(principal=principal, operation=operation, outcome=outcome, request_id=request[REQUEST_ID],
                 source=source(request), details={k: v for k, v in details.items() if v is not None})


# ---------------------------------------------------------------- the authorization page


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


async def _authorization(request: web.Request) -> tuple[OAuth, Request, Any]:
    """The request, and authlib's grant of it if it is a valid authorization request; _Refused with
    the answer to any other: an error page when the client or its redirect URI is not known (nowhere
    safe to redirect to), else the error redirected to the client."""
    oauth = request.app[OAUTH]
    req = await _request(request, oauth)
    state = req.payload.state
    if not state or len(state) > MAX_STATE_CHARS or len(req.payload.datalist.get("state", [])) > 1:
        raise _Refused(pages.respond(pages.error("Request refused", "The application's request has no valid "
                                                 "`state`: go back to the application and start again."), status=400))
    try:
        return oauth, req, await asyncio.to_thread(oauth.server.get_consent_grant, req, None)
    except InsecureTransportError:
        raise _Refused(pages.respond(pages.error("Not available", "This server's issuer URL must be https."),
                                     status=400)) from None
    except OAuth2Error as error:
        status, body, headers = oauth.server.handle_error_response(req, error)
        if status == 302:
            raise _Refused(_answer(status, body, headers)) from None
        raise _Refused(pages.respond(pages.error("Request refused", f"The application's request cannot be "
                                                 f"served: {error.description or error.error}."), status=400)) from None


async def _decided(oauth: OAuth, req: Request, grant, user: User | None, login_time) -> web.Response:
    """The code (or access_denied) redirected to the client."""
    req.auth_time = login_time
    status, body, headers = await asyncio.to_thread(oauth.server.create_authorization_response, req, user, grant)
    return _answer(status, body, headers)


async def _next(request: web.Request, oauth: OAuth, req: Request, grant, *, user: User | None, login_time,
                cookies: dict[str, str] | None = None, error: str | None = None, username: str = "") -> web.Response:
    """What a browser sees next: the login page; once logged in, the consent page; or, consent
    given before for these scopes, the code at once."""
    cookies = dict(cookies or {})
    client: Client = grant.client
    csrf = csrf_token(request, cookies)
    action = str(request.rel_url.with_query(request.query))
    if user is None:
        response = pages.respond(pages.login(client_name=client.name, action=action, csrf=csrf, error=error,
                                             username=username), redirects_to=grant.redirect_uri)
    elif not (scope := oauth.server.granted(req, user)):
        response = await _decided(oauth, req, grant, None, None)  # nothing this user may grant: denied
    elif await oauth.consents.given(user.id, client.client_id, scope):
        response = await _decided(oauth, req, grant, user, login_time)
    else:
        response = pages.respond(pages.consent(client_name=client.name, username=user.name, scopes=scope.split(),
                                               action=action, csrf=csrf), redirects_to=grant.redirect_uri)
    set_cookies(response, cookies, login_max_age=oauth.logins.ttl_s)
    return response


async def _user(oauth: OAuth, user_id: str) -> User | None:
    row = await oauth.users.get(user_id)
    return None if row is None or row.disabled else User(row.id, frozenset(row.scopes), row.username)


async def _logged_in(request: web.Request, oauth: OAuth) -> tuple[User | None, Any]:
    login = await oauth.logins.of(request)
    return (None, None) if login is None else (await _user(oauth, login.user_id), login.created_at)


@route(routes, OAUTH_AUTHORIZE)
async def authorize(request: web.Request) -> web.Response:
    try:
        oauth, req, grant = await _authorization(request)
    except _Refused as refused:
        return refused.response
    user, login_time = await _logged_in(request, oauth)
    return await _next(request, oauth, req, grant, user=user, login_time=login_time)


@route(routes, OAUTH_AUTHORIZE_FORM)
async def authorize_form(request: web.Request) -> web.Response:
    try:
        oauth, req, grant = await _authorization(request)
    except _Refused as refused:
        return refused.response
    form = req.form
    if not csrf_holds(request, form.get("csrf")):
        return pages.respond(pages.error("Form expired", "This form is no longer valid: go back to the application "
                                         "and start again."), status=400)
    if form.get("step") == "login":
        return await _login(request, oauth, req, grant)
    user, login_time = await _logged_in(request, oauth)
    if form.get("step") != "consent" or user is None:
        return await _next(request, oauth, req, grant, user=user, login_time=login_time)
    client: Client = grant.client
    scope = oauth.server.granted(req, user)
    allowed = form.get("decision") == "allow" and bool(scope)
    if allowed:
        await oauth.consents.give(user.id, client.client_id, scope)
    await oauth.record(_entry(request, "oauth.consent", "success" if allowed else "denied", user.id,
                              client_id=client.client_id, scope=scope))
    return await _decided(oauth, req, grant, user if allowed else None, login_time)


async def _login(request: web.Request, oauth: OAuth, req: Request, grant) -> web.Response:
    form = req.form
    username, password = form.get("username", ""), form.get("password", "")
    if not isinstance(username, str) or not isinstance(password, str):
        username, password = "", ""
    known_shape = USERNAME.match(username) is not None and 0 < len(password) <= MAX_PASSWORD_CHARS
    result = await oauth.users.login(username, password) if known_shape else None
    if result is None or result.outcome is not Outcome.OK:
        await oauth.record(_entry(
            request, "oauth.login", "denied", result.user.id if result and result.user else "anonymous",
            username=username if known_shape else None, client_id=grant.client.client_id,
            reason="locked" if result and result.outcome is Outcome.LOCKED else "refused",
            locked_now=True if result and result.locked_now else None))
        return await _next(request, oauth, req, grant, user=None, login_time=None,
                           username=username if known_shape else "",
                           error="The username or password is not right, or the account is locked for a while "
                                 "after too many attempts.")
    await oauth.record(_entry(request, "oauth.login", "success", result.user.id, username=username,
                              client_id=grant.client.client_id))
    user = User(result.user.id, frozenset(result.user.scopes), result.user.username)
    return await _next(request, oauth, req, grant, user=user, login_time=utcnow(),
                       cookies={LOGIN_COOKIE: await oauth.logins.start(user.id)})


# ---------------------------------------------------------------- the token and revocation endpoints


@route(routes, OAUTH_TOKEN)
async def token(request: web.Request) -> web.Response:
    oauth = request.app[OAUTH]
    req = await _request(request, oauth)
    status, body, headers = await asyncio.to_thread(oauth.server.create_token_response, req)
    client_id = req.client.client_id if req.client is not None else None
    if req.replayed is not None:
        await oauth.record(_entry(request, "oauth.replay", "denied", client_id or "anonymous", client_id=client_id,
                                  grant_id=req.replayed.grant_id, what=req.replayed.what))
    elif status == 200:
        principal = req.user.id if isinstance(req.user, User) else client_id
        await oauth.record(_entry(request, "oauth.token", "success", principal, client_id=client_id,
                                  grant_type=req.payload.grant_type, grant_id=req.issued_grant,
                                  scope=body.get("scope")))
    return _answer(status, body, headers)


@route(routes, OAUTH_REVOKE)
async def revoke(request: web.Request) -> web.Response:
    oauth = request.app[OAUTH]
    req = await _request(request, oauth)
    status, body, headers = await asyncio.to_thread(oauth.server.create_endpoint_response, "revocation", req)
    if req.issued_grant is not None:
        client_id = req.client.client_id if req.client is not None else None
        await oauth.record(_entry(request, "oauth.revoke", "success", client_id or "anonymous", client_id=client_id,
                                  grant_id=req.issued_grant))
    return _answer(status, body, headers)


# ---------------------------------------------------------------- metadata and keys


def metadata(issuer: str) -> dict[str, Any]:
    """RFC 8414 §2."""
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + OAUTH_AUTHORIZE.path,
        "token_endpoint": issuer + OAUTH_TOKEN.path,
        "revocation_endpoint": issuer + OAUTH_REVOKE.path,
        "jwks_uri": issuer + OAUTH_JWKS.path,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted(SCOPES),
    }


@route(routes, OAUTH_METADATA)
async def authorization_server(request: web.Request) -> web.Response:
    return web.json_response(metadata(request.app[OAUTH].issuer))


@route(routes, OAUTH_JWKS)
async def jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[OAUTH].signing.jwks(), headers={"Cache-Control": "max-age=60"})
