"""The authorization server's admin commands as an operator runs them (`cifer keyservice user ...`,
`oauth-client ...`, `oauth-key rotate`; oauth/admin.py), real processes on a data directory: a
password only from standard input, a client's secret printed once and stored only as a hash, and
each refusal a one-line error with exit code 2."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys

from cifer.keystore.config import FileKekSettings, open_kek
from cifer_keyservice.db.engine import create_engine, default_url, sessions
from cifer_keyservice.oauth.users import Outcome, UserStore

PASSWORD = "twelve chars or more"


def cli(data, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def login(data, username: str, password: str) -> Outcome:
    async def attempt() -> Outcome:
        engine = create_engine(default_url(data))
        try:
            return (await UserStore(sessions(engine), lockout_after=5, lockout_s=900).login(username, password)).outcome
        finally:
            await engine.dispose()
    return asyncio.run(attempt())


def test_users_are_made_disabled_enabled_and_reset_with_passwords_from_stdin(data):
    made = cli(data, "user", "create", "alice", "--scope", "encrypt", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    user = json.loads(made.stdout)
    assert user["username"] == "alice" and user["scopes"] == ["encrypt"] and user["id"].startswith("usr_")
    assert login(data, "alice", PASSWORD) is Outcome.OK
    assert cli(data, "user", "disable", "alice").returncode == 0
    assert login(data, "alice", PASSWORD) is Outcome.REFUSED
    assert cli(data, "user", "enable", "alice").returncode == 0
    assert cli(data, "user", "reset", "alice", "--password-stdin", stdin="another long password\n").returncode == 0
    assert login(data, "alice", PASSWORD) is Outcome.REFUSED and login(data, "alice", "another long password") is Outcome.OK
    stored = sqlite3.connect(data / "cifer.db").execute("SELECT password_hash FROM oauth_users").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_refusals_are_one_line_errors(data):
    for args, stdin, said in (
            (("user", "create", "bob", "--password-stdin"), "short\n", "12 to 256 characters"),
            (("user", "create", "Bad Name", "--password-stdin"), PASSWORD + "\n", "a username is"),
            (("user", "disable", "nobody"), "", "no user named nobody"),
            (("oauth-client", "create", "--name", "x", "--public", "--scope", "encrypt"), "", "at least one"),
            (("oauth-client", "create", "--name", "x", "--confidential", "--scope", "encrypt",
              "--redirect-uri", "http://example.com/cb"), "", "https (or http on loopback)")):
        done = cli(data, *args, stdin=stdin)
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_confidential_clients_secret_is_printed_once_and_stored_only_as_its_hash(data):
    done = cli(data, "oauth-client", "create", "--name", "Shop", "--confidential", "--scope", "encrypt",
               "--redirect-uri", "https://shop.example/callback", "--redirect-uri", "http://127.0.0.1:8000/cb")
    assert done.returncode == 0, done.stderr
    client = json.loads(done.stdout)
    assert client["type"] == "confidential" and client["client_secret"].startswith("cs_")
    assert "shown only this once" in done.stderr
    row = sqlite3.connect(data / "cifer.db").execute(
        "SELECT secret_hash, redirect_uris FROM oauth_clients WHERE client_id = ?", (client["client_id"],)).fetchone()
    assert row[0] == hashlib.sha256(client["client_secret"].encode()).digest()
    assert client["client_secret"].encode() not in b"".join(open(p, "rb").read() for p in data.iterdir() if p.is_file())
    assert json.loads(row[1]) == ["https://shop.example/callback", "http://127.0.0.1:8000/cb"]
    public = json.loads(cli(data, "oauth-client", "create", "--name", "Spa", "--public", "--scope", "encrypt",
                            "--redirect-uri", "https://spa.example/cb").stdout)
    assert public["client_secret"] is None and public["type"] == "public"


def test_a_signing_key_rotation_needs_the_services_kek_and_names_the_new_key(data):
    assert cli(data, "migrate").returncode == 0
    refused = cli(data, "oauth-key", "rotate")  # the service never ran: no KEK yet, none made by this command
    assert refused.returncode != 0 and "kek.key" in refused.stderr
    open_kek(FileKekSettings(data / "kek.key"), create=True).close()  # as the service's first start does
    done = cli(data, "oauth-key", "rotate")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kid"]
