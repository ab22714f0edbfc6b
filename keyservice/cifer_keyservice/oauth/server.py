"""The protocol rules, by authlib's framework-neutral authorization server: the authorization-code
grant with PKCE, refresh tokens, client credentials and revocation (RFC 6749, 7636, 7009).
authlib decides what is valid and how to answer; this module gives it CIFER's clients, codes and
tokens (oauth/clients.py, oauth/tokens.py), and routes/oauth.py is the aiohttp glue.

authlib is synchronous: each call of it runs in a worker thread (`asyncio.to_thread`), and its
hooks reach the database on the service's event loop (`run`), one at a time.

Choices beyond authlib's defaults:
- PKCE: a public client must send a `code_challenge`, and any client that sends one must say
  `code_challenge_method=S256` (`plain` is refused; RFC 9700 §2.1.1). A code issued with a
  challenge is redeemed only with its verifier.
- A code is used up by its first redemption, valid or not: a second one revokes everything the
  first issued. A refresh token likewise, rotated at each use.
- Tokens are minted by oauth/tokens.py (RFC 9068 JWTs), not by authlib's generators.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import (AuthorizationServer, InvalidRequestError, InvalidScopeError, OAuth2Payload, OAuth2Request,
                                    TokenMixin, grants)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from multidict import MultiDict, MultiDictProxy

from cifer_keyservice.clock import utcnow
from cifer_keyservice.db.models import OAuthCode, OAuthRefreshToken
from cifer_keyservice.oauth.clients import CONFIDENTIAL_METHODS, Client, ClientStore
from cifer_keyservice.oauth.tokens import Replayed, TokenStore
from cifer_keyservice.oauth.users import UserStore
from cifer_keyservice.settings import SCOPES

T = TypeVar("T")
AUTH_METHODS = [*CONFIDENTIAL_METHODS, "none"]  # each client is held to its own kind (Client.check_endpoint_auth_method)


class _Payload(OAuth2Payload):
    def __init__(self, values: MultiDict) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:
        return {key: self._values.getone(key) for key in self._values.keys()}

    @property
    def datalist(self) -> defaultdict[str, list]:
        found: defaultdict[str, list] = defaultdict(list)
        for key, value in self._values.items():
            found[key].append(value)
        return found


class Request(OAuth2Request):
    """An aiohttp request as authlib reads it: its query and form, read before authlib runs."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], query: MultiDictProxy,
                 form: MultiDictProxy) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._query, self._form = MultiDict(query), MultiDict(form)
        merged = MultiDict(self._query)
        merged.extend(self._form)
        self.payload = _Payload(merged)
        self.replayed: Replayed | None = None  # set when a code or refresh token was used again
        self.issued_grant: str | None = None  # the grant a token was issued of, or revoked
        self.auth_time: datetime.datetime | None = None  # when the user logged in (a code's request)

    @property
    def args(self) -> MultiDict:
        return self._query

    @property
    def form(self) -> MultiDict:
        return self._form


@dataclasses.dataclass(frozen=True)
class User:
    """The resource owner, as authlib's grants pass it around."""

    id: str
    scopes: frozenset[str]
    name: str = ""

    def get_user_id(self) -> str:
        return self.id


class _Code:
    """A redeemed code, as authlib's code grant and PKCE read it."""

    def __init__(self, row: OAuthCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


@dataclasses.dataclass
class _Refresh(TokenMixin):
    """A refresh token (rotated out as it is read) or an access token's claims, for refresh and revocation."""

    client_id: str
    scope: str
    grant_id: str
    user_id: str | None = None

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False


class S256(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def __init__(self) -> None:
        super().__init__(required=True)  # a public client's redemption needs its verifier

    def validate_code_challenge(self, grant, redirect_uri) -> None:
        data = grant.request.payload.data
        if grant.request.client.public and not data.get("code_challenge"):
            raise InvalidRequestError("A public client must use PKCE: 'code_challenge' with S256")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class _Issuing:
    """Grants mint their tokens with the TokenStore rather than authlib's generators."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return self.server.issue(self.request, user, scope, include_refresh_token)

    def save_token(self, token) -> None:
        """Saved as issued (TokenStore.issue)."""


class CodeGrant(_Issuing, grants.AuthorizationCodeGrant):
    def save_authorization_code(self, code: str, request: Request) -> None:
        raise AssertionError("codes are made by Server.new_code")

    def create_authorization_response(self, redirect_uri: str, grant_user: User | None):
        if grant_user is None:
            return super().create_authorization_response(redirect_uri, None)  # access_denied
        data = self.request.payload.data
        code = self.server.run(self.server.tokens.new_code(
            client_id=self.request.client.client_id, user_id=grant_user.id,
            redirect_uri=self.request.payload.redirect_uri or "", scope=self.server.granted(self.request, grant_user),
            challenge=data.get("code_challenge"), method=data.get("code_challenge_method"),
            auth_time=self.request.auth_time or utcnow()))
        params = [("code", code)]
        if self.request.payload.state:
            params.append(("state", self.request.payload.state))
        return 302, "", [("Location", add_params_to_uri(redirect_uri, params))]

    def query_authorization_code(self, code: str, client: Client) -> _Code | None:
        try:
            row = self.server.run(self.server.tokens.take_code(code, client.client_id))
        except Replayed as replay:
            self.request.replayed = replay
            return None
        return None if row is None else _Code(row)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        """Used up as it was read (take_code)."""

    def authenticate_user(self, authorization_code: _Code) -> User | None:
        return self.server.user(authorization_code.row.user_id)


class RefreshGrant(_Issuing, grants.RefreshTokenGrant):
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> _Refresh | None:
        client = self.request.client
        try:
            row: OAuthRefreshToken | None = self.server.run(self.server.tokens.take_refresh(refresh_token,
                                                                                           client.client_id))
        except Replayed as replay:
            self.request.replayed = replay
            return None
        return None if row is None else _Refresh(row.client_id, row.scope, row.grant_id, row.user_id)

    def authenticate_user(self, refresh_token: _Refresh) -> User | None:
        return self.server.user(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: _Refresh) -> None:
        """Rotated out as it was read (take_refresh)."""


class CredentialsGrant(_Issuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(CONFIDENTIAL_METHODS)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Refresh | None:
        tokens: TokenStore = self.server.tokens
        claims = tokens.verified_claims(token_string, allow_expired=True)
        if claims is not None:
            return _Refresh(claims["client_id"], claims.get("scope", ""), claims["sid"])
        row = self.server.run(tokens.grant_of_refresh(token_string))
        return None if row is None else _Refresh(row.client_id, row.scope, row.grant_id)

    def revoke_token(self, token: _Refresh, request: Request) -> None:
        if self.server.run(self.server.tokens.revoke_grant(token.grant_id, "revoked")):
            request.issued_grant = token.grant_id  # audited by the route


class Server(AuthorizationServer):
    def __init__(self, loop: asyncio.AbstractEventLoop, clients: ClientStore, users: UserStore,
                 tokens: TokenStore) -> None:
        super().__init__(scopes_supported=sorted(SCOPES))
        self._loop = loop
        self.clients, self.users, self.tokens = clients, users, tokens
        self.register_grant(CodeGrant, [S256()])
        self.register_grant(RefreshGrant)
        self.register_grant(CredentialsGrant)
        self.register_endpoint(Revocation)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` on the service's loop, from authlib's worker thread."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    # authlib's interface

    def query_client(self, client_id: str) -> Client | None:
        return self.run(self.clients.get(client_id)) if isinstance(client_id, str) else None

    def save_token(self, token: dict, request: Request) -> None:
        """Saved as issued (TokenStore.issue)."""

    def create_oauth2_request(self, request: Request) -> Request:
        if not isinstance(request, Request):
            raise TypeError("routes/oauth.py builds the request")
        return request

    def create_json_request(self, request):
        raise NotImplementedError("no JSON endpoint (dynamic registration) is served")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No listeners: audit records are written by the routes."""

    # CIFER's

    def user(self, user_id: str | None) -> User | None:
        """An enabled user, as authlib's grants hold it; None for an unknown or disabled one."""
        row = self.run(self.users.get(user_id)) if user_id else None
        return None if row is None or row.disabled else User(row.id, frozenset(row.scopes), row.username)

    @staticmethod
    def granted(request: Request, user: User) -> str:
        """The scopes a code carries: those asked (or, none asked, the client's) that the client was
        registered with and the user holds."""
        return " ".join(s for s in (request.scope or "").split() if s in user.scopes or "admin" in user.scopes)

    def issue(self, request: Request, user: User | None, scope: str | None, refresh: bool) -> dict:
        client: Client = request.client
        if user is not None and request.authorization_code is not None:  # a code redeemed
            code: OAuthCode = request.authorization_code.row
            grant_id, auth_time, scope = code.grant_id, code.auth_time, code.scope
        elif user is not None:  # a refresh: the grant goes on, with the scopes asked (a subset) or the grant's
            grant_id, auth_time = request.refresh_token.grant_id, None
            scope = " ".join(s for s in (scope or request.refresh_token.scope).split())
        else:  # client credentials: a grant of its own, with the client's scopes (or those asked of them)
            scope = client.get_allowed_scope(scope)
            if not scope:
                raise InvalidScopeError("None of the scopes asked is the client's")
            grant_id = self.run(self.tokens.new_grant(client.client_id, None, scope,
                                                      lasts_s=self.tokens.access_ttl_s))
            auth_time = None
        issued = self.run(self.tokens.issue(grant_id=grant_id, client_id=client.client_id,
                                            user_id=None if user is None else user.id, scope=scope,
                                            auth_time=auth_time, refresh=refresh))
        request.issued_grant = issued.grant_id
        return issued.body
