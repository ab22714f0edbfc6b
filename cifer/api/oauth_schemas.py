"""The OpenAPI shapes of the OAuth 2.0 endpoints (seed 000 §3.3; docs/oauth.md). They answer as
OAuth 2.0 says (RFC 6749 §5, RFC 7009, RFC 8414, RFC 7517), not in CIFER's envelope, and their
pages are HTML."""

from __future__ import annotations

from typing import Any

FORM = "application/x-www-form-urlencoded"
HTML = {"text/html": {"schema": {"type": "string"}}}
SCOPE_TEXT = {"type": "string", "maxLength": 512, "description": "Space-separated scopes of seed §3.4"}
AUTHORIZE_PARAMETERS = [{"name": name, "in": "query", "required": required, "schema": schema}
                        for name, required, schema in (
    ("response_type", True, {"const": "code"}),
    ("client_id", True, {"type": "string", "maxLength": 40}),
    ("redirect_uri", False, {"type": "string", "maxLength": 2048,
                             "description": "Exactly as registered; required when the client has several"}),
    ("scope", False, SCOPE_TEXT),
    ("state", True, {"type": "string", "minLength": 1, "maxLength": 1024}),
    ("code_challenge", False, {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$",
                               "description": "PKCE (RFC 7636): required of public clients"}),
    ("code_challenge_method", False, {"const": "S256"}))]
LOGIN_FORM = {"type": "object", "required": ["csrf", "step"], "properties": {
    "csrf": {"type": "string", "description": "The page's CSRF token (also its cookie)"},
    "step": {"enum": ["login", "consent"]}, "username": {"type": "string"}, "password": {"type": "string"},
    "decision": {"enum": ["allow", "deny"]}}}
TOKEN_FORM = {"type": "object", "required": ["grant_type"], "properties": {
    "grant_type": {"enum": ["authorization_code", "refresh_token", "client_credentials"]},
    "code": {"type": "string"}, "redirect_uri": {"type": "string"}, "code_verifier": {"type": "string"},
    "refresh_token": {"type": "string"}, "scope": SCOPE_TEXT, "client_id": {"type": "string"},
    "client_secret": {"type": "string", "description": "client_secret_post; or HTTP Basic (client_secret_basic)"}}}
TOKEN = {"type": "object", "required": ["access_token", "token_type", "expires_in"], "properties": {
    "access_token": {"type": "string", "description": "A JWT (RFC 9068), signed by a key of the JWKS"},
    "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"}, "scope": SCOPE_TEXT,
    "refresh_token": {"type": "string", "description": "Opaque; rotated at each use"}}}
ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "error_description": {"type": "string"}}}
REVOKE_FORM = {"type": "object", "required": ["token"], "properties": {
    "token": {"type": "string"}, "token_type_hint": {"enum": ["access_token", "refresh_token"]},
    "client_id": {"type": "string"}, "client_secret": {"type": "string"}}}
METADATA = {"type": "object", "required": ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"],
            "properties": {name: {"type": "string"} for name in (
                "issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint", "jwks_uri")}}
JWKS = {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {"type": "object"}}}}


def json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def form(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {FORM: {"schema": schema}}}


def page(description: str) -> dict[str, Any]:
    return {"description": description, "content": HTML}


REDIRECT = {"description": "To the client's redirect URI, with `code` and `state`, or `error` and `state`",
            "headers": {"Location": {"schema": {"type": "string"}}}}
SEED_SCOPES = {"cifer:read": "Read CIFER metadata", "cifer:create": "Create new CIFERs", "cifer:delete": "Revoke CIFERs",
               "encrypt": "Encrypt data", "decrypt": "Decrypt data", "admin": "Administrative operations"}  # seed §3.4
SECURITY_SCHEME = {"type": "oauth2", "description": "An access token of CIFER's authorization server (docs/oauth.md)",
                   "flows": {"authorizationCode": {"authorizationUrl": "/oauth/authorize", "tokenUrl": "/oauth/token",
                                                   "refreshUrl": "/oauth/token", "scopes": SEED_SCOPES},
                             "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": SEED_SCOPES}}}
