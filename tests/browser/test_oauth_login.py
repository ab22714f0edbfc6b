"""Seed 000 §3.3's sequence in a real browser: a real `cifer dev`, a user and a client registered
with the admin CLI, a small application on loopback, and headless Chromium (Debian's, driven by
Playwright; see /work/shared/notes/tooling.md) signing in on the login page, allowing on the
consent page and landing on the application's callback. The application then posts the seed's
token form and uses the access token on the API. A screenshot of each page is kept: under
$CIFER_TEST_ARTIFACTS/browser when set, else under the test's tmp_path."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright, expect

from dev.running import DevServer, cifer_dev
from ports import free_port

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class Setup:
    server: DevServer
    app_port: int
    confidential: tuple[str, str]  # client id, secret
    public: str  # client id

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.app_port}/callback"


def admin(data_dir: Path, *args: str, stdin: str | None = None) -> dict:
    """One `cifer keyservice --data-dir DATA ...` command, as an operator runs it: its JSON answer."""
    done = subprocess.run([sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data_dir), *args],
                          input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    data_dir = tmp_path_factory.mktemp("dev") / "data"
    app_port = free_port()
    with cifer_dev(data_dir) as server:
        redirect = f"http://127.0.0.1:{app_port}/callback"
        admin(data_dir, "user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
        client = ["oauth-client", "create", "--redirect-uri", redirect, "--scope", "cifer:create", "--scope", "encrypt"]
        confidential = admin(data_dir, *client, "--name", "Test App", "--confidential")
        public = admin(data_dir, *client, "--name", "Test SPA", "--public")
        assert confidential["client_secret"] and public["client_secret"] is None
        yield Setup(server, app_port, (confidential["client_id"], confidential["client_secret"]), public["client_id"])


class CallbackApp:
    """The application the user signs in to: `/callback` keeps the query and answers a small page."""

    def __init__(self) -> None:
        self.arrived: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def callback(self, request: web.Request) -> web.Response:
        if not self.arrived.done():
            self.arrived.set_result(dict(request.query))
        got = "an authorization code" if "code" in request.query else f"error {request.query.get('error')}"
        return web.Response(content_type="text/html", text=(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test App</title></head>'
            f"<body><h1>Test App</h1><p>Back from CIFER with {got}.</p></body></html>"))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/callback", self.callback)
        return app


def artifacts(tmp_path: Path) -> Path:
    root = os.environ.get("CIFER_TEST_ARTIFACTS")
    folder = Path(root) / "browser" if root else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.mark.parametrize("kind", ["confidential", "public"])
async def test_sign_in_allow_and_use_the_token_in_chromium(setup: Setup, kind: str, tmp_path: Path):
    server, redirect = setup.server, setup.redirect_uri
    client_id = setup.confidential[0] if kind == "confidential" else setup.public
    state = secrets.token_urlsafe(16)
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect,
             "scope": "cifer:create encrypt", "state": state}
    verifier = None
    if kind == "public":
        verifier, challenge = pkce()
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    authorize = f"{server.url}/oauth/authorize?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    shots = artifacts(tmp_path)
    screenshots = [shots / f"{kind}-1-login.png", shots / f"{kind}-2-consent.png", shots / f"{kind}-3-callback.png"]

    app = CallbackApp()
    runner = web.AppRunner(app.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", setup.app_port).start()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context()
                page = await context.new_page()
                page.set_default_timeout(15_000)
                console: list[str] = []  # a CSP violation shows only here
                page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

                response = await page.goto(authorize)
                assert response.status == 200
                await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
                await page.screenshot(path=screenshots[0], full_page=True)
                cookies = {c["name"]: c for c in await context.cookies()}
                assert "cifer_csrf" in cookies, f"Chromium kept no cookie from the login page: {cookies}"
                for cookie in cookies.values():
                    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == \
                        (True, True, "Lax", "/oauth/"), cookie

                await page.fill("#username", "alice")
                await page.fill("#password", PASSWORD)
                await page.get_by_role("button", name="Sign in").click()
                await expect(page.get_by_role("button", name="Allow")).to_be_visible()
                await expect(page.get_by_role("heading", name="Allow access?")).to_be_visible()
                await page.screenshot(path=screenshots[1], full_page=True)
                assert {"cifer_csrf", "cifer_login"} <= {c["name"] for c in await context.cookies()}

                await page.get_by_role("button", name="Allow").click()
                try:
                    await page.wait_for_url(lambda url: url.startswith(redirect + "?"))
                except PlaywrightTimeout:
                    pytest.fail(f"Chromium did not reach the callback; still on {page.url}; console: {console}")
                await expect(page.get_by_role("heading", name="Test App")).to_be_visible()
                await page.screenshot(path=screenshots[2], full_page=True)
            finally:
                await browser.close()
        arrived = await asyncio.wait_for(app.arrived, 5)
    finally:
        await runner.cleanup()

    for shot in screenshots:
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > len(PNG_MAGIC) and shot.read_bytes().startswith(PNG_MAGIC), shot
    assert arrived["state"] == state and arrived["code"], arrived

    # The application's side: seed 000 §3.3's token form, then the API with the access token.
    if kind == "confidential":
        form = {"grant_type": "authorization_code", "code": arrived["code"], "redirect_uri": redirect,
                "client_id": client_id, "client_secret": setup.confidential[1]}
    else:
        form = {"grant_type": "authorization_code", "code": arrived["code"], "redirect_uri": redirect,
                "client_id": client_id, "code_verifier": verifier}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/oauth/token", data=form) as resp:
            assert resp.request_info.headers["Content-Type"] == "application/x-www-form-urlencoded"
            issued = await resp.json()
            assert resp.status == 200, issued
        assert issued["token_type"] == "Bearer" and issued["access_token"] and issued["refresh_token"]
        bearer = {"Authorization": f"Bearer {issued['access_token']}"}
        async with http.post(f"{server.url}/v1/cifers", json={"name": f"browser-{kind}"}, headers=bearer) as resp:
            created = await resp.json()
            assert resp.status == 201, created
        plaintext = base64.b64encode(b"signed in through a real browser").decode()
        async with http.post(f"{server.url}/v1/encrypt", headers=bearer,
                             json={"cifer_id": created["data"]["cifer_id"], "plaintext": plaintext}) as resp:
            encrypted = await resp.json()
            assert resp.status == 200, encrypted
        assert encrypted["success"] is True
