"""The key service as an OAuth 2.0 authorization server (seed 000 §3.3; docs/oauth.md), over real
HTTP on loopback with a real database: the authorization-code grant with PKCE through the login
and consent pages (forms and cookies handled here as a browser would; tests/browser/ drives a real
one), the seed's token form, refresh rotation, client credentials, revocation, and the API taking
the access tokens with their scopes. The service's clock is moved (`clock.OFFSET`), not waited for."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import re
import secrets
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cifer_keyservice import clock
from cifer_keyservice.db.engine import create_engine, sessions
from cifer_keyservice.oauth.clients import ClientStore
from cifer_keyservice.oauth.users import UserStore

PASSWORD = "correct horse battery staple"
APP = "http://127.0.0.1:9999/callback"


@dataclasses.dataclass
class World:
    service: object  # tests/keyservice/service.py KeyService
    user_id: str
    confidential: tuple[str, str]  # client id, secret
    public: str  # client id
    engine: object

    @property
    def http(self):
        return self.service.client


@pytest.fixture
async def world(keyservice):
    engine = create_engine(keyservice.settings.database_url)
    maker = sessions(engine)
    user = await UserStore(maker, lockout_after=5, lockout_s=900).create("alice", PASSWORD)
    secret, shop = await ClientStore(maker).create("Shop", redirect_uris=[APP], public=False,
                                                   scopes=["cifer:read", "cifer:create", "encrypt", "decrypt"])
    _, spa = await ClientStore(maker).create("Spa", redirect_uris=[APP], public=True, scopes=["cifer:create", "encrypt"])
    yield World(keyservice, user.id, (shop.client_id, secret), spa.client_id, engine)
    await engine.dispose()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class Browser:
    """Cookies as a browser keeps them for the authorization server (aiohttp's test client would
    not send `Secure` ones over http), and the forms it posts."""

    def __init__(self, http) -> None:
        self.http = http
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def _keep(self, resp) -> None:
        self.set_cookie_headers += resp.headers.getall("Set-Cookie", [])
        self.cookies.update({name: morsel.value for name, morsel in resp.cookies.items()})

    def _header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    async def get(self, query: dict[str, str]):
        resp = await self.http.get("/oauth/authorize", params=query, headers=self._header(), allow_redirects=False)
        self._keep(resp)
        return resp, await resp.text()

    async def post(self, query: dict[str, str], form: dict[str, str]):
        resp = await self.http.post("/oauth/authorize?" + urllib.parse.urlencode(query), data=form,
                                    headers=self._header(), allow_redirects=False)
        self._keep(resp)
        return resp, await resp.text()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def redirected(resp) -> dict[str, str]:
    assert resp.status == 302, resp.status
    location = resp.headers["Location"]
    assert location.startswith(APP + "?"), location
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def authorize_query(client_id: str, *, scope: str = "cifer:create encrypt", challenge: str | None = None,
                    **extra: str) -> dict[str, str]:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": APP, "scope": scope,
             "state": secrets.token_urlsafe(8)}
    if challenge is not None:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return query | extra


async def log_in_and_allow(browser: Browser, query: dict[str, str], password: str = PASSWORD) -> dict[str, str]:
    """The login page, then the consent page, allowed (unless allowed before: then the code comes
    at once after the login): the redirect's parameters."""
    resp, html = await browser.get(query)
    assert resp.status == 200 and "Sign in" in html
    resp, html = await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "alice",
                                            "password": password})
    if resp.status == 200:
        assert "Allow access?" in html, html
        resp, _ = await browser.post(query, {"csrf": csrf_of(html), "step": "consent", "decision": "allow"})
    found = redirected(resp)
    assert found["state"] == query["state"]
    return found


async def token(http, form: dict[str, str], **kwargs):
    resp = await http.post("/oauth/token", data=form, **kwargs)
    return resp.status, await resp.json()


async def code_for_shop(world: World, browser: Browser | None = None, **query_extra: str) -> str:
    query = authorize_query(world.confidential[0], scope="cifer:create encrypt cifer:read", **query_extra)
    return (await log_in_and_allow(browser or Browser(world.http), query))["code"]


def seeds_form(world: World, code: str) -> dict[str, str]:
    """Seed 000 §3.3's token request, field for field."""
    client_id, secret = world.confidential
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": APP, "client_id": client_id,
            "client_secret": secret}


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


# ---------------------------------------------------------------- the seed's flow


async def test_the_seeds_flow_gives_tokens_the_api_takes_as_the_user(world):
    status, issued = await token(world.http, seeds_form(world, await code_for_shop(world)))
    assert status == 200, issued
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 600 and issued["refresh_token"].startswith("rt_")
    assert set(issued["scope"].split()) == {"cifer:create", "encrypt", "cifer:read"}
    header = jwt.get_unverified_header(issued["access_token"])
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header["kid"]
    assert claims["sub"] == world.user_id and claims["client_id"] == world.confidential[0] and claims["aud"] == "cifer"
    assert {"iss", "exp", "iat", "jti", "auth_time", "sid"} <= set(claims)
    _, me = await world.service.call("GET", "/v1/whoami", headers=bearer(issued["access_token"]), expect=200)
    assert me["data"]["principal"] == world.user_id and me["data"]["kind"] == "oauth"
    _, created = await world.service.call("POST", "/v1/cifers", json={"name": "from-oauth"},
                                          headers=bearer(issued["access_token"]), expect=201)
    assert created["data"]["owner_id"] == world.user_id  # the principal policies and the audit log name
    assert f'"principal": "{world.user_id}"' in world.service.audit_lines.getvalue()


async def test_the_token_endpoint_takes_client_secret_basic_too(world):
    client_id, secret = world.confidential
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = {k: v for k, v in seeds_form(world, await code_for_shop(world)).items() if k not in ("client_secret",)}
    status, issued = await token(world.http, form, headers={"Authorization": f"Basic {basic}"})
    assert status == 200 and issued["access_token"]
    status, refused = await token(world.http, {**form, "client_secret": "cs_wrong"})
    assert status == 401 and refused["error"] == "invalid_client"


async def test_consent_is_remembered_per_client_and_scope_set(world):
    browser = Browser(world.http)
    await code_for_shop(world, browser)
    query = authorize_query(world.confidential[0], scope="cifer:create encrypt cifer:read")
    resp, _ = await browser.get(query)  # logged in, consented: the code at once
    assert "code" in redirected(resp)
    resp, html = await browser.get(authorize_query(world.confidential[0], scope="decrypt"))  # another set: asked
    assert resp.status == 200 and "Allow access?" in html and "Decrypt data" in html


async def test_denying_consent_redirects_access_denied(world):
    browser = Browser(world.http)
    query = authorize_query(world.confidential[0])
    _, html = await browser.get(query)
    _, html = await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "alice",
                                         "password": PASSWORD})
    resp, _ = await browser.post(query, {"csrf": csrf_of(html), "step": "consent", "decision": "deny"})
    found = redirected(resp)
    assert (found["error"], found["state"]) == ("access_denied", query["state"]) and "code" not in found


# ---------------------------------------------------------------- PKCE, redirect URIs, codes


async def test_pkce_is_required_of_public_clients_and_a_missing_or_wrong_verifier_is_refused(world):
    resp, _ = await Browser(world.http).get(authorize_query(world.public))  # no challenge
    assert redirected(resp)["error"] == "invalid_request"
    resp, _ = await Browser(world.http).get(authorize_query(world.public, code_challenge="a" * 43,
                                                            code_challenge_method="plain"))
    assert redirected(resp)["error"] == "invalid_request"  # S256 only
    for verifier_given in (None, "wrong-" + "v" * 40):
        verifier, challenge = pkce()
        found = await log_in_and_allow(Browser(world.http), authorize_query(world.public, challenge=challenge))
        form = {"grant_type": "authorization_code", "code": found["code"], "redirect_uri": APP, "client_id": world.public}
        if verifier_given:
            form["code_verifier"] = verifier_given
        status, refused = await token(world.http, form)
        assert status == 400 and refused["error"] in ("invalid_request", "invalid_grant"), refused
    verifier, challenge = pkce()
    found = await log_in_and_allow(Browser(world.http), authorize_query(world.public, challenge=challenge))
    status, issued = await token(world.http, {"grant_type": "authorization_code", "code": found["code"],
                                              "redirect_uri": APP, "client_id": world.public, "code_verifier": verifier})
    assert status == 200 and "refresh_token" in issued


async def test_a_confidential_client_may_use_pkce_and_is_then_held_to_it(world):
    verifier, challenge = pkce()
    code = await code_for_shop(world, code_challenge=challenge, code_challenge_method="S256")
    status, refused = await token(world.http, seeds_form(world, code))  # the verifier left out
    assert status == 400 and refused["error"] == "invalid_request"
    code = await code_for_shop(world, code_challenge=challenge, code_challenge_method="S256")
    status, issued = await token(world.http, {**seeds_form(world, code), "code_verifier": verifier})
    assert status == 200, issued


async def test_a_redirect_uri_not_registered_is_refused_without_redirecting(world):
    for uri in ("http://127.0.0.1:9999/callback/", "http://127.0.0.1:9999/elsewhere", "https://evil.example/cb"):
        resp, html = await Browser(world.http).get(authorize_query(world.confidential[0], redirect_uri=uri))
        assert resp.status == 400 and "Location" not in resp.headers and "Request refused" in html
    status, refused = await token(world.http, {**seeds_form(world, await code_for_shop(world)),
                                               "redirect_uri": "http://127.0.0.1:9999/other"})
    assert status == 400 and refused["error"] == "invalid_grant"


async def test_a_request_without_state_is_refused(world):
    query = authorize_query(world.confidential[0])
    del query["state"]
    resp, html = await Browser(world.http).get(query)
    assert resp.status == 400 and "state" in html


async def test_a_code_is_used_once_and_its_replay_revokes_what_it_issued(world):
    code = await code_for_shop(world)
    status, issued = await token(world.http, seeds_form(world, code))
    assert status == 200
    await world.service.call("GET", "/v1/whoami", headers=bearer(issued["access_token"]), expect=200)
    status, refused = await token(world.http, seeds_form(world, code))
    assert status == 400 and refused["error"] == "invalid_grant"
    await world.service.call("GET", "/v1/whoami", headers=bearer(issued["access_token"]), expect=401)
    status, refused = await token(world.http, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
                                               "client_id": world.confidential[0],
                                               "client_secret": world.confidential[1]})
    assert status == 400 and refused["error"] == "invalid_grant"
    assert '"operation": "oauth.replay"' in world.service.audit_lines.getvalue()


async def test_a_code_expires(world, monkeypatch):
    code = await code_for_shop(world)
    monkeypatch.setattr(clock, "OFFSET", datetime.timedelta(seconds=61))
    status, refused = await token(world.http, seeds_form(world, code))
    assert status == 400 and refused["error"] == "invalid_grant"


# ---------------------------------------------------------------- client credentials and scopes


async def test_client_credentials_carry_the_clients_scopes_and_the_api_enforces_them(world):
    client_id, secret = world.confidential
    status, issued = await token(world.http, {"grant_type": "client_credentials", "client_id": client_id,
                                              "client_secret": secret})
    assert status == 200 and "refresh_token" not in issued
    assert set(issued["scope"].split()) == {"cifer:read", "cifer:create", "encrypt", "decrypt"}
    status, narrow = await token(world.http, {"grant_type": "client_credentials", "client_id": client_id,
                                              "client_secret": secret, "scope": "cifer:create encrypt"})
    assert status == 200 and narrow["scope"] == "cifer:create encrypt"
    _, me = await world.service.call("GET", "/v1/whoami", headers=bearer(narrow["access_token"]), expect=200)
    assert me["data"]["principal"] == client_id
    _, created = await world.service.call("POST", "/v1/cifers", json={"name": "svc"},
                                          headers=bearer(narrow["access_token"]), expect=201)
    _, refused = await world.service.call("POST", "/v1/decapsulate", headers=bearer(narrow["access_token"]),
                                          json={"headers": ["AAAA"], "recipient": {"suite": "x", "public_key": ""}},
                                          expect=403)
    assert refused["error"]["code"] == "FORBIDDEN" and refused["error"]["details"]["required_scope"] == "decrypt"
    status, refused = await token(world.http, {"grant_type": "client_credentials", "client_id": client_id,
                                               "client_secret": secret, "scope": "admin"})
    assert status == 400 and refused["error"] == "invalid_scope"
    assert created["data"]["owner_id"] == client_id


async def test_a_public_client_cannot_use_client_credentials(world):
    status, refused = await token(world.http, {"grant_type": "client_credentials", "client_id": world.public})
    assert status in (400, 401) and refused["error"] in ("invalid_client", "unauthorized_client")


# ---------------------------------------------------------------- refresh and revocation


async def test_refresh_tokens_rotate_and_reuse_revokes_the_whole_family(world):
    client_id, secret = world.confidential
    _, first = await token(world.http, seeds_form(world, await code_for_shop(world)))
    refresh = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": secret}
    status, second = await token(world.http, {**refresh, "refresh_token": first["refresh_token"]})
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    status, narrowed = await token(world.http, {**refresh, "refresh_token": second["refresh_token"], "scope": "encrypt"})
    assert status == 200 and narrowed["scope"] == "encrypt"
    await world.service.call("GET", "/v1/whoami", headers=bearer(narrowed["access_token"]), expect=200)
    status, refused = await token(world.http, {**refresh, "refresh_token": first["refresh_token"]})  # reused
    assert status == 400 and refused["error"] == "invalid_grant"
    for access in (first, second, narrowed):  # the whole family
        await world.service.call("GET", "/v1/whoami", headers=bearer(access["access_token"]), expect=401)
    status, _ = await token(world.http, {**refresh, "refresh_token": narrowed["refresh_token"]})
    assert status == 400
    records = [json.loads(line) for line in world.service.audit_lines.getvalue().splitlines() if line.startswith("{")]
    replays = [r for r in records if r.get("operation") == "oauth.replay"]
    assert replays and replays[-1]["details"]["what"] == "refresh token" and replays[-1]["outcome"] == "denied"


async def test_revoking_a_refresh_token_or_an_access_token_ends_the_grant(world):
    client_id, secret = world.confidential
    auth = {"client_id": client_id, "client_secret": secret}
    for which in ("refresh_token", "access_token"):
        _, issued = await token(world.http, seeds_form(world, await code_for_shop(world)))
        resp = await world.http.post("/oauth/revoke", data={"token": issued[which], **auth})
        assert resp.status == 200
        await world.service.call("GET", "/v1/whoami", headers=bearer(issued["access_token"]), expect=401)
        status, _ = await token(world.http, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
                                             **auth})
        assert status == 400
    resp = await world.http.post("/oauth/revoke", data={"token": "rt_unknown", **auth})
    assert resp.status == 200  # RFC 7009 §2.2: an unknown token is no error


async def test_an_expired_access_token_gets_401(world, monkeypatch):
    _, issued = await token(world.http, seeds_form(world, await code_for_shop(world)))
    monkeypatch.setattr(clock, "OFFSET", datetime.timedelta(seconds=601))
    _, refused = await world.service.call("GET", "/v1/whoami", headers=bearer(issued["access_token"]), expect=401)
    assert refused["error"]["code"] == "UNAUTHORIZED"


async def test_a_token_signed_by_a_key_the_jwks_does_not_hold_gets_401(world):
    _, issued = await token(world.http, seeds_form(world, await code_for_shop(world)))
    header = jwt.get_unverified_header(issued["access_token"])
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    stranger = ec.generate_private_key(ec.SECP256R1())
    for kid in (header["kid"], "unknown-kid"):
        forged = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})
        await world.service.call("GET", "/v1/whoami", headers=bearer(forged), expect=401)
    none = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"], "typ": "at+jwt"})
    await world.service.call("GET", "/v1/whoami", headers=bearer(none), expect=401)


async def test_a_rotated_signing_key_stays_in_the_jwks_until_its_tokens_expire(world, monkeypatch):
    from cifer.keystore.config import open_kek
    from cifer_keyservice.oauth import signing_keys

    _, before = await token(world.http, seeds_form(world, await code_for_shop(world)))
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    kek = open_kek(world.service.settings.kek, create=False)
    try:
        new_kid = await signing_keys(world.service.settings, sessions(world.engine), kek).rotate()
    finally:
        kek.close()
    app = world.http.server.app
    from cifer_keyservice.oauth import OAUTH
    await app[OAUTH].signing.refresh()  # what the service's periodic refresh does
    jwks = await (await world.http.get("/oauth/jwks")).json()
    assert [k["kid"] for k in jwks["keys"]] == [old_kid, new_kid]
    _, after = await token(world.http, seeds_form(world, await code_for_shop(world)))
    assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid
    await world.service.call("GET", "/v1/whoami", headers=bearer(before["access_token"]), expect=200)
    monkeypatch.setattr(clock, "OFFSET", datetime.timedelta(seconds=600 + 301))  # past the old key's last token
    await app[OAUTH].signing.refresh()
    jwks = await (await world.http.get("/oauth/jwks")).json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid]


# ---------------------------------------------------------------- the login page


async def test_an_account_locks_after_five_bad_passwords_and_a_reset_unlocks_it(world):
    query = authorize_query(world.confidential[0])
    browser = Browser(world.http)
    _, html = await browser.get(query)
    for _ in range(5):
        resp, html = await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "alice",
                                                "password": "not the password"})
        assert resp.status == 200 and "Sign in" in html and "not right" in html
    resp, html = await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "alice",
                                            "password": PASSWORD})  # the right one, while locked
    assert "Sign in" in html and "Allow access?" not in html
    audit = world.service.audit_lines.getvalue()
    assert audit.count('"operation": "oauth.login"') == 6 and '"reason": "locked"' in audit
    assert PASSWORD not in audit and "not the password" not in audit
    await UserStore(sessions(world.engine), lockout_after=5, lockout_s=900).reset("alice", PASSWORD + "!")
    resp, html = await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "alice",
                                            "password": PASSWORD + "!"})
    assert "Allow access?" in html


async def test_a_form_without_its_csrf_token_is_refused(world):
    browser = Browser(world.http)
    query = authorize_query(world.confidential[0])
    await browser.get(query)
    for csrf in ("", "forged" * 8):
        resp, html = await browser.post(query, {"csrf": csrf, "step": "login", "username": "alice",
                                                "password": PASSWORD})
        assert resp.status == 400 and "Form expired" in html
    stranger = Browser(world.http)  # another browser: no cookie at all
    resp, _ = await stranger.post(query, {"csrf": "x" * 43, "step": "login", "username": "alice", "password": PASSWORD})
    assert resp.status == 400


async def test_the_pages_cookies_and_headers_are_locked_down(world):
    browser = Browser(world.http)
    query = authorize_query(world.confidential[0])
    resp, html = await browser.get(query)
    assert resp.headers["Content-Type"].startswith("text/html")
    policy = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy and "script" not in html
    assert "form-action 'self' http://127.0.0.1:9999;" in policy + ";"  # the form's redirect: to the client only
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Cache-Control"] == "no-store"
    assert '<label for="username">' in html and '<html lang="en">' in html
    await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "alice", "password": PASSWORD})
    assert {c.split("=", 1)[0] for c in browser.set_cookie_headers} == {"cifer_csrf", "cifer_login"}
    for cookie in browser.set_cookie_headers:
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite", "path"} <= attributes and "SameSite=Lax" in cookie


async def test_metadata_names_every_endpoint_and_the_jwks(world):
    resp = await world.http.get("/.well-known/oauth-authorization-server")
    meta = await resp.json()
    issuer = meta["issuer"]
    assert meta["authorization_endpoint"] == issuer + "/oauth/authorize"
    assert meta["token_endpoint"] == issuer + "/oauth/token" and meta["revocation_endpoint"] == issuer + "/oauth/revoke"
    assert meta["jwks_uri"] == issuer + "/oauth/jwks" and meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    keys = (await (await world.http.get("/oauth/jwks")).json())["keys"]
    assert keys and all("d" not in key and key["kty"] == "EC" and key["alg"] == "ES256" for key in keys)


async def test_login_forms_are_limited_per_address(aiohttp_client, database_url, tmp_path):
    from cifer.keystore.config import FileKekSettings
    from cifer_keyservice.app import create_app
    from cifer_keyservice.settings import FixedWindow, KeyServiceSettings, RateLimits

    settings = KeyServiceSettings(database_url=database_url, kek=FileKekSettings(tmp_path / "kek.key"),
                                  rate_limits=dataclasses.replace(RateLimits(), login=FixedWindow(3, 300)))
    http = await aiohttp_client(create_app(settings, audit_stream=__import__("io").StringIO()))
    engine = create_engine(database_url)
    try:
        _, shop = await ClientStore(sessions(engine)).create("Shop", redirect_uris=[APP], public=False,
                                                             scopes=["encrypt"])
    finally:
        await engine.dispose()
    browser = Browser(http)
    query = authorize_query(shop.client_id, scope="encrypt")
    _, html = await browser.get(query)
    statuses = []
    for _ in range(4):
        resp, _ = await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "bob",
                                             "password": "whatever it is"})
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429] and resp.headers["Retry-After"]


async def test_a_disabled_user_cannot_log_in_or_refresh(world):
    _, issued = await token(world.http, seeds_form(world, await code_for_shop(world)))
    await UserStore(sessions(world.engine), lockout_after=5, lockout_s=900).set_disabled("alice", True)
    status, refused = await token(world.http, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
                                               "client_id": world.confidential[0],
                                               "client_secret": world.confidential[1]})
    assert status == 400, refused
    browser = Browser(world.http)
    query = authorize_query(world.confidential[0])
    _, html = await browser.get(query)
    resp, html = await browser.post(query, {"csrf": csrf_of(html), "step": "login", "username": "alice",
                                            "password": PASSWORD})
    assert "Sign in" in html and "not right" in html


def test_the_openapi_documents_describe_the_oauth_endpoints_and_the_oauth2_scheme():
    from cifer.api.endpoints import KEYSERVICE, SIDECAR
    from cifer.api.openapi import document

    for server in (KEYSERVICE, SIDECAR):
        doc = document(server)
        assert {"/oauth/authorize", "/oauth/token", "/oauth/revoke", "/.well-known/oauth-authorization-server",
                "/oauth/jwks"} <= set(doc["paths"])
        scheme = doc["components"]["securitySchemes"]["oauth2"]
        assert scheme["type"] == "oauth2"
        assert scheme["flows"]["authorizationCode"]["tokenUrl"] == "/oauth/token"
        assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {"cifer:read", "cifer:create", "cifer:delete",
                                                                         "encrypt", "decrypt", "admin"}
        assert {"oauth2": []} in doc["security"]
        token_op = doc["paths"]["/oauth/token"]["post"]
        assert "application/x-www-form-urlencoded" in token_op["requestBody"]["content"] and token_op["security"] == []
