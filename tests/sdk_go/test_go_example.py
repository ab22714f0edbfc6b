"""The seed's §6.2 Go program (issue 20's first acceptance line), in sdk/go/example as `package
main`: it is the seed's text run through gofmt and nothing else, and it builds and runs against a
`cifer dev` started here, printing the decrypted text.

The program passes `cifer.WithAPIKey("sk_live_abc123...")`: the seed's placeholder, which no key
service accepts (a key is sk_live_ and 56 letters or digits). So it runs with CIFER_PROXY_URL
pointing at a loopback relay that forwards every request to `cifer dev` unchanged except for that
one header value, swapped for the dev key; the relay also records what the SDK sent."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import re
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

from sdk_go.gotool import SDK, build, gofmt, go_environment

# Seed 000 §6.2, byte for byte (its blank lines keep the seed's four spaces).
SEED_PROGRAM = (
    'package main\n'
    '\n'
    'import (\n'
    '    "context"\n'
    '    "log"\n'
    '    \n'
    '    "github.com/cifer-io/sdk-go/cifer"\n'
    ')\n'
    '\n'
    'func main() {\n'
    '    // Initialize client\n'
    '    client, err := cifer.NewClient(\n'
    '        cifer.WithAPIKey("sk_live_abc123..."),\n'
    '        cifer.WithRegion("us-east"),\n'
    '    )\n'
    '    if err != nil {\n'
    '        log.Fatal(err)\n'
    '    }\n'
    '    \n'
    '    // Create CIFER\n'
    '    cif, err := client.Cifers.Create(context.Background(), &cifer.CreateParams{\n'
    '        Name: "my-encryption-key",\n'
    '    })\n'
    '    if err != nil {\n'
    '        log.Fatal(err)\n'
    '    }\n'
    '    \n'
    '    // Encrypt\n'
    '    encrypted, err := client.Encrypt(context.Background(), cif.ID, []byte("secret data"))\n'
    '    if err != nil {\n'
    '        log.Fatal(err)\n'
    '    }\n'
    '    \n'
    '    // Decrypt\n'
    '    decrypted, err := client.Decrypt(context.Background(), encrypted)\n'
    '    if err != nil {\n'
    '        log.Fatal(err)\n'
    '    }\n'
    '    \n'
    '    log.Printf("Decrypted: %s", string(decrypted.Plaintext))\n'
    '}\n'
)
SEED_PROGRAM_SHA256 = "2f9ac5976a044926535c1dcf4c5a9f70898d3285e6ab72b0a29cbd6562a60f68"
PLACEHOLDER = "Bearer sk_live_abc123..."


def test_example_main_go_is_the_seeds_program_through_gofmt():
    assert hashlib.sha256(SEED_PROGRAM.encode()).hexdigest() == SEED_PROGRAM_SHA256  # this file's copy is the seed's
    formatted = subprocess.run([gofmt()], input=SEED_PROGRAM, capture_output=True, text=True, timeout=60, check=True)
    assert (SDK / "example" / "main.go").read_text() == formatted.stdout


class Relay(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str, api_key: str) -> None:
        super().__init__(("127.0.0.1", 0), RelayHandler)
        self.target = urllib.parse.urlsplit(target)
        self.api_key = api_key
        self.seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class RelayHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Relay

    def log_message(self, *args) -> None:
        pass

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append({"method": self.command, "path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        if headers.get("Authorization") == PLACEHOLDER:
            headers["Authorization"] = f"Bearer {self.server.api_key}"
        upstream = http.client.HTTPConnection(self.server.target.hostname, self.server.target.port, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _relay


@pytest.fixture
def relay(dev_server) -> Iterator[Relay]:
    server = Relay(dev_server.url, dev_server.api_key)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_seeds_go_program_prints_the_decrypted_text(relay, tmp_path):
    program = build("example", tmp_path / "example")
    env = {k: v for k, v in go_environment().items() if k != "CIFER_API_KEY"}
    env["CIFER_PROXY_URL"] = relay.url
    ran = subprocess.run([str(program)], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == ""
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d Decrypted: secret data\n", ran.stderr), ran.stderr
    calls = [(seen["method"], seen["path"]) for seen in relay.seen]
    assert calls == [("POST", "/v1/cifers"), ("POST", "/v1/encrypt"), ("POST", "/v1/decrypt")]
    for seen in relay.seen:  # the key and region the program gave, an idempotency key on each POST
        assert seen["authorization"] == PLACEHOLDER
        assert "region=us-east" in seen["user-agent"] and seen["user-agent"].startswith("cifer-go/")
        assert seen["x-idempotency-key"].startswith("idem_") and seen["x-request-id"].startswith("req_")
