"""An identity provider's JWT as a key-service credential, verified against its JWKS served by a
local provider (aiohttp on loopback): RSA, EC and Ed25519 keys, tokens signed with PyJWT."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import io
import json
import socket
import time

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from cifer.envelope import decrypt, encrypt
from cifer.keystore.config import FileKekSettings
from cifer_keyservice.app import create_app, serviceaccount_authenticator
from cifer_keyservice.auth.oidc import MAX_JWKS_BYTES, OidcUnavailable, OidcVerifier
from cifer_keyservice.settings import KeyServiceSettings, OidcSettings
from keyrelease_helpers import data_key_of, decap_body
from keyservice.helpers import b64, header_of, recipient
from keyservice.service import KeyService

ISSUER = "https://idp.example.test/realms/cifer"
AUDIENCE = "cifer-keyservice"
SUBJECT = "0b5e-alice"
PRINCIPAL = f"oidc:{ISSUER}#{SUBJECT}"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
ROTATED_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROGUE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # in no JWKS
SIGNERS = {"RS256": (RSA_KEY, "rsa-1"), "ES256": (EC_KEY, "ec-1"), "EdDSA": (ED_KEY, "ed-1")}


def public_jwk(key, kid: str) -> dict:
    algorithm = {rsa.RSAPrivateKey: jwt.algorithms.RSAAlgorithm, ec.EllipticCurvePrivateKey: jwt.algorithms.ECAlgorithm,
                 ed25519.Ed25519PrivateKey: jwt.algorithms.OKPAlgorithm}
    kind = next(cls for cls in algorithm if isinstance(key, cls))
    return {**algorithm[kind].to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def mint(key=RSA_KEY, kid="rsa-1", alg="RS256", **claims) -> str:
    """A token of the provider; a claim given as None is left out."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "exp": now + 300,
               "scope": "cifer:read cifer:create decrypt", **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=alg, headers={"kid": kid})


def unsigned_b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclasses.dataclass
class Idp:
    """The provider's JWKS endpoint; `answer` makes it fail the ways a real one can."""

    keys: list[dict]
    url: str = ""
    requests: int = 0
    answer: str = "ok"  # ok | error | garbage | no-keys | huge | redirect


@pytest.fixture
async def idp(aiohttp_server):
    state = Idp(keys=[public_jwk(key, kid) for key, kid in SIGNERS.values()])

    async def jwks(request: web.Request) -> web.StreamResponse:
        state.requests += 1
        if state.answer == "error":
            return web.Response(status=500, text="upstream down")
        if state.answer == "garbage":
            return web.Response(text="<html>login</html>", content_type="text/html")
        if state.answer == "no-keys":
            return web.json_response({"jwks": state.keys})
        if state.answer == "huge":
            return web.json_response({"keys": state.keys, "padding": "x" * MAX_JWKS_BYTES})
        if state.answer == "redirect":
            raise web.HTTPFound("/elsewhere")
        return web.json_response({"keys": state.keys})

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    server = await aiohttp_server(app)  # 127.0.0.1, a free port
    state.url = str(server.make_url("/jwks"))
    return state


def oidc_service(aiohttp_client, database_url, tmp_path, jwks_url: str, **overrides):
    settings = KeyServiceSettings(
        database_url=database_url, kek=FileKekSettings(tmp_path / "kek.key"),
        # No wait between refetches here: rotation is seen at once; the limit has its own test below.
        oidc=OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url, jwks_refetch_min_interval_s=0.0),
        **overrides,
    )
    return settings, aiohttp_client(create_app(settings, audit_stream=io.StringIO()))


@pytest.fixture
async def oidc_keyservice(aiohttp_client, database_url, tmp_path, idp):
    settings, client = oidc_service(aiohttp_client, database_url, tmp_path, idp.url)
    return KeyService(await client, settings, io.StringIO())


@pytest.fixture
async def unreachable_idp_keyservice(aiohttp_client, database_url, tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings, client = oidc_service(aiohttp_client, database_url, tmp_path, f"http://127.0.0.1:{port}/jwks")
    return KeyService(await client, settings, io.StringIO())


# ---------------------------------------------------------------------- through the service


async def test_a_provider_token_creates_a_cifer_it_owns_and_decapsulates_its_envelope(oidc_keyservice):
    token = bearer(mint())
    _, created = await oidc_keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=token, expect=201)
    cid = created["data"]["cifer_id"]
    _, shown = await oidc_keyservice.call("GET", f"/v1/cifers/{cid}", headers=token, expect=200)
    assert shown["data"]["owner_id"] == PRINCIPAL
    envelope = encrypt(await recipient(oidc_keyservice, cid), b"card number")
    _, body = await oidc_keyservice.call("POST", "/v1/decapsulate", headers=token, expect=200,
                                         json=decap_body([b64(header_of(envelope))]))
    result = body["data"]["results"][0]
    assert result["success"] is True
    assert decrypt(envelope, lambda header: data_key_of(result, header.to_bytes())) == b"card number"


@pytest.mark.parametrize("claims", [
    pytest.param({"exp": int(time.time()) - 120}, id="expired"),
    pytest.param({"aud": "another-service"}, id="wrong-audience"),
    pytest.param({"iss": ISSUER + "/"}, id="wrong-issuer"),
])
async def test_a_refused_token_is_401(oidc_keyservice, claims):
    _, body = await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(mint(**claims)), expect=401)
    assert body["error"]["code"] == "UNAUTHORIZED"


async def test_a_token_signed_by_a_key_outside_the_jwks_is_401(oidc_keyservice):
    await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(mint(ROGUE_KEY, "rogue-1")), expect=401)


async def test_a_token_signed_by_another_key_under_a_known_kid_is_401(oidc_keyservice):
    await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(mint(ROGUE_KEY, "rsa-1")), expect=401)


async def test_an_unsigned_alg_none_token_is_401(oidc_keyservice):
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "exp": now + 300, "scope": "cifer:read"},
                       None, algorithm="none", headers={"kid": "rsa-1"})
    await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(token), expect=401)


async def test_an_hs256_token_keyed_with_the_jwks_public_key_is_401(oidc_keyservice):
    # The classic algorithm confusion: the attacker knows the public key and uses it as an HMAC secret.
    public_pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    signing_input = (unsigned_b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}) + "."
                     + unsigned_b64({"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "exp": now + 300,
                                     "scope": "cifer:read cifer:create"}))
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    _, body = await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(token), expect=401)
    assert body["error"]["code"] == "UNAUTHORIZED"


async def test_a_token_without_the_needed_scope_is_403(oidc_keyservice):
    token = bearer(mint(scope="cifer:read decrypt"))
    await oidc_keyservice.call("GET", "/v1/cifers", headers=token, expect=200)
    _, body = await oidc_keyservice.call("POST", "/v1/cifers", json={"name": "k"}, headers=token, expect=403)
    assert body["error"]["code"] == "FORBIDDEN"


async def test_a_subject_named_an_admin_principal_holds_the_admin_scope(aiohttp_client, database_url, tmp_path, idp):
    settings, client = oidc_service(aiohttp_client, database_url, tmp_path, idp.url,
                                    admin_principals=frozenset({PRINCIPAL}))
    service = KeyService(await client, settings, io.StringIO())
    admin, other = bearer(mint(scope="cifer:read")), bearer(mint(sub="0b5e-bob", scope="cifer:read"))
    _, who = await service.call("GET", "/v1/whoami", headers=admin, expect=200)
    assert (who["data"]["principal"], who["data"]["scopes"]) == (PRINCIPAL, ["admin", "cifer:read"])
    await service.call("POST", "/v1/cifers", json={"name": "k"}, headers=admin, expect=201)  # admin holds every scope
    _, who = await service.call("GET", "/v1/whoami", headers=other, expect=200)
    assert who["data"]["scopes"] == ["cifer:read"]
    await service.call("POST", "/v1/cifers", json={"name": "k"}, headers=other, expect=403)


async def test_a_rotated_in_key_is_accepted_without_a_restart(oidc_keyservice, idp):
    await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(mint()), expect=200)
    assert idp.requests == 1
    idp.keys = [public_jwk(ROTATED_KEY, "rsa-2")]
    await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(mint(ROTATED_KEY, "rsa-2")), expect=200)
    assert idp.requests == 2


async def test_an_unreachable_jwks_with_nothing_cached_is_503(unreachable_idp_keyservice):
    _, body = await unreachable_idp_keyservice.call("GET", "/v1/cifers", headers=bearer(mint()), expect=503)
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"


async def test_a_token_of_another_issuer_is_never_offered_to_the_oidc_verifier(oidc_keyservice, idp):
    # A projected ServiceAccount token is a JWT too; without a TokenReview nothing may accept it.
    now = int(time.time())
    token = mint(iss="https://kubernetes.default.svc.cluster.local", aud=["cifer"], exp=now + 3600,
                 sub="system:serviceaccount:default:payments", scope=None)
    await oidc_keyservice.call("GET", "/v1/cifers", headers=bearer(token), expect=401)
    assert idp.requests == 0


# ---------------------------------------------------------------------- the verifier itself


@pytest.mark.parametrize("alg", SIGNERS)
async def test_each_configured_algorithm_verifies_with_its_own_key(idp, alg):
    key, kid = SIGNERS[alg]
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url) as verifier:
        principal = await verifier.verify(mint(key, kid, alg))
    assert (principal.id, principal.kind) == (PRINCIPAL, "oidc")
    assert principal.scopes == {"cifer:read", "cifer:create", "decrypt"}


@pytest.mark.parametrize("claims", [
    pytest.param({"exp": None}, id="no-exp"),
    pytest.param({"nbf": int(time.time()) + 600}, id="not-yet-valid"),
    pytest.param({"iat": int(time.time()) + 600}, id="issued-in-the-future"),
    pytest.param({"aud": None}, id="no-audience"),
    pytest.param({"sub": None}, id="no-subject"),
    pytest.param({"sub": "alice\nforged log line"}, id="unprintable-subject"),
])
async def test_a_token_with_bad_claims_is_refused(idp, claims):
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url) as verifier:
        assert await verifier.verify(mint(**claims)) is None


async def test_an_expired_token_within_the_leeway_is_accepted(idp):
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url) as verifier:
        assert await verifier.verify(mint(exp=int(time.time()) - 10)) is not None


async def test_a_token_whose_alg_does_not_fit_the_kids_key_is_refused(idp):
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url) as verifier:
        assert await verifier.verify(mint(EC_KEY, "rsa-1", "ES256")) is None
        assert await verifier.verify(mint(RSA_KEY, "ec-1", "RS256")) is None


async def test_scopes_come_from_a_scp_list_and_unknown_ones_are_dropped(idp):
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url) as verifier:
        principal = await verifier.verify(mint(scope=None, scp=["decrypt", "openid", "cifer:read"]))
        assert principal.scopes == {"decrypt", "cifer:read"}
        assert (await verifier.verify(mint(scope="openid profile"))).scopes == frozenset()


async def test_an_oversized_token_is_refused_unread(idp):
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url) as verifier:
        assert await verifier.verify(mint(padding="x" * 16 * 1024)) is None
    assert idp.requests == 0


async def test_made_up_kids_fetch_the_jwks_at_most_once_per_interval(idp):
    now = [1000.0]
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url, clock=lambda: now[0]) as verifier:
        assert await verifier.verify(mint()) is not None
        for i in range(20):
            assert await verifier.verify(mint(ROGUE_KEY, f"made-up-{i}")) is None
        assert idp.requests == 1
        now[0] += 30
        assert await verifier.verify(mint(ROGUE_KEY, "made-up-again")) is None
        assert idp.requests == 2


async def test_a_provider_outage_keeps_the_cached_keys_past_their_ttl(idp):
    now = [1000.0]
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url, clock=lambda: now[0]) as verifier:
        assert await verifier.verify(mint()) is not None
        idp.answer = "error"
        now[0] += 301
        assert await verifier.verify(mint()) is not None
        assert idp.requests == 2
        now[0] += 30
        with pytest.raises(OidcUnavailable):  # a kid only the provider could vouch for
            await verifier.verify(mint(ROTATED_KEY, "rsa-2"))


@pytest.mark.parametrize("answer", ["error", "garbage", "no-keys", "huge", "redirect"])
async def test_a_jwks_that_cannot_be_had_makes_the_provider_unavailable(idp, answer):
    idp.answer = answer
    async with OidcVerifier(ISSUER, AUDIENCE, idp.url) as verifier:
        with pytest.raises(OidcUnavailable):
            await verifier.verify(mint())


@pytest.mark.parametrize("algorithms", [("RS256", "HS256"), ("none",), ()])
def test_symmetric_or_no_algorithms_cannot_be_configured(algorithms):
    with pytest.raises(ValueError):
        OidcVerifier(ISSUER, AUDIENCE, "https://idp.example.test/jwks", algorithms=algorithms)


def test_a_plain_http_jwks_url_is_refused_off_loopback():
    with pytest.raises(ValueError):
        OidcVerifier(ISSUER, AUDIENCE, "http://idp.example.test/jwks")


async def test_tokenreview_is_never_shown_a_token_claiming_the_oidc_issuer():
    class Reviewer:
        def __init__(self) -> None:
            self.seen: list[str] = []

        async def review(self, token: str) -> str:
            self.seen.append(token)
            return "system:serviceaccount:default:payments"

    reviewer = Reviewer()
    authenticate = serviceaccount_authenticator(reviewer, frozenset({"decrypt"}), other_issuers=frozenset({ISSUER}))
    assert await authenticate(mint()) is None
    assert reviewer.seen == []
    pod_token = mint(iss="https://kubernetes.default.svc.cluster.local")
    assert (await authenticate(pod_token)).id == "system:serviceaccount:default:payments"
    assert reviewer.seen == [pod_token]
