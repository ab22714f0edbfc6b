"""OAuth 2.0 through a real `cifer dev` (docs/oauth.md): the sidecar passes the authorization
server's pages, forms, cookies, redirects and token answers through as they are, the seed's §3.3
flow ends in calls the API takes, and afterwards no secret of the flow (password, client secret,
code, tokens, cookies) is anywhere in what the process printed or in its audit log: a grep test.
The admin commands (`cifer keyservice user|oauth-client`) run on the data directory, as a
developer runs them."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.parse

import requests

from cifer import apikeys
from ports import free_port
from proxy.processes import stop, wait_until_healthy

PASSWORD = "a long enough passphrase"
CALLBACK = "http://127.0.0.1:9/callback"  # never reached: the redirect is read, not followed


def admin(data_dir, *args: str, stdin: str = "") -> dict:
    done = subprocess.run([sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data_dir), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Browser:
    """A browser's part, by hand: cookies kept per name and sent back, redirects read, not followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def call(self, method: str, query: dict[str, str], form: dict[str, str] | None = None) -> requests.Response:
        resp = requests.request(method, f"{self.base}/oauth/authorize?{urllib.parse.urlencode(query)}", data=form,
                                headers={"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                                         "Origin": self.base} if self.cookies else {},
                                allow_redirects=False, timeout=30)
        self.cookies.update(resp.cookies.get_dict())
        return resp


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_the_seeds_oauth_flow_through_cifer_dev_leaves_no_secret_in_its_output(tmp_path):
    data, port = tmp_path / "data", free_port()
    out, err = (tmp_path / "stdout").open("w"), (tmp_path / "stderr").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "cifer.cli", "dev", "--port", str(port), "--grpc-port", "0",
                             "--data-dir", str(data)], stdout=out, stderr=err,
                            env={**os.environ, "CIFER_API_KEY": apikeys.generate_api_key(live=False)})
    base = f"http://127.0.0.1:{port}"
    secrets_seen: list[str] = [PASSWORD]
    try:
        wait_until_healthy(base, proc)
        admin(data, "user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
        client = admin(data, "oauth-client", "create", "--name", "Shop", "--redirect-uri", CALLBACK,
                       "--scope", "cifer:create", "--scope", "encrypt", "--scope", "decrypt", "--confidential")
        secrets_seen.append(client["client_secret"])
        meta = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=30).json()
        assert meta["issuer"] == base and meta["token_endpoint"] == f"{base}/oauth/token"

        browser = Browser(base)
        query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": CALLBACK,
                 "scope": "cifer:create encrypt decrypt", "state": secrets.token_urlsafe(12)}
        page = browser.call("GET", query)
        assert page.status_code == 200 and "Sign in" in page.text
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        page = browser.call("POST", query, {"csrf": csrf_of(page.text), "step": "login", "username": "alice",
                                            "password": PASSWORD})
        assert page.status_code == 200 and "Allow access?" in page.text, page.text
        assert set(browser.cookies) == {"cifer_csrf", "cifer_login"}
        secrets_seen += browser.cookies.values()
        done = browser.call("POST", query, {"csrf": csrf_of(page.text), "step": "consent", "decision": "allow"})
        assert done.status_code == 302, done.text
        found = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(done.headers["Location"]).query))
        assert found["state"] == query["state"]
        secrets_seen.append(found["code"])

        issued = requests.post(f"{base}/oauth/token", data={  # seed §3.3's form, field for field
            "grant_type": "authorization_code", "code": found["code"], "redirect_uri": CALLBACK,
            "client_id": client["client_id"], "client_secret": client["client_secret"]}, timeout=30)
        assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store", issued.text
        tokens = issued.json()
        secrets_seen += [tokens["access_token"], tokens["refresh_token"]]
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        created = requests.post(f"{base}/v1/cifers", json={"name": "oauth-dev"}, headers=auth, timeout=30)
        assert created.status_code == 201, created.text
        cifer_id = created.json()["data"]["cifer_id"]
        plaintext = base64.b64encode(b"through the sidecar").decode()
        sealed = requests.post(f"{base}/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": plaintext},
                               headers=auth, timeout=30)
        assert sealed.status_code == 200, sealed.text
        opened = requests.post(f"{base}/v1/decrypt", json={"ciphertext": sealed.json()["data"]["ciphertext"]},
                               headers=auth, timeout=30)
        assert opened.status_code == 200 and opened.json()["data"]["plaintext"] == plaintext, opened.text

        basic = requests.post(f"{base}/oauth/token", data={"grant_type": "refresh_token",
                                                           "refresh_token": tokens["refresh_token"]},
                              auth=(client["client_id"], client["client_secret"]), timeout=30)  # client_secret_basic
        assert basic.status_code == 200, basic.text
        secrets_seen += [basic.json()["access_token"], basic.json()["refresh_token"]]
        revoked = requests.post(f"{base}/oauth/revoke", data={"token": basic.json()["refresh_token"]},
                                auth=(client["client_id"], client["client_secret"]), timeout=30)
        assert revoked.status_code == 200
        after = requests.post(f"{base}/v1/cifers", json={"name": "late"}, timeout=30,
                              headers={"Authorization": f"Bearer {basic.json()['access_token']}"})
        assert after.status_code == 401
    finally:
        stop(proc)
        out.close()
        err.close()
    printed = (tmp_path / "stdout").read_text() + (tmp_path / "stderr").read_text()
    audit = (data / "audit.log").read_text()
    assert '"operation": "oauth.login"' in audit and '"operation": "oauth.token"' in audit  # the grep reads them
    for secret in secrets_seen:
        assert secret not in printed and secret not in audit, "a secret of the flow was written out"
