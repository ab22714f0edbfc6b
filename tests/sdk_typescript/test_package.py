"""The package's own checks, as CI runs them: strict type checking, the lint, and a browser
bundle of the ESM build (which fails on any Node-only import)."""

from __future__ import annotations

import json

from sdk_typescript.node import npm


def test_the_sources_type_check_with_tsc_no_emit(ts_sdk):
    npm("run", "typecheck")


def test_the_lint_passes(ts_sdk):
    npm("run", "lint")


def test_the_esm_build_bundles_for_browsers_without_node_builtins(ts_sdk):
    done = npm("run", "-s", "check:browser")
    assert json.loads(done.stdout)["browser_bundle_bytes"] > 10_000


def test_every_endpoint_the_sdk_calls_is_the_servers_with_its_operation_id(ts_sdk):
    from cifer.api.endpoints import ENDPOINTS, Sidecar
    from sdk_typescript.node import SDK_DIR, run_js

    ours = run_js(f"""
      const endpoints = await import({json.dumps((SDK_DIR / 'dist' / 'esm' / 'endpoints.js').as_uri())});
      out(Object.values(endpoints).filter((e) => typeof e === 'object').map((e) => [e.method, e.path, e.name]));
    """)
    served = {(e.method, e.path): e for e in ENDPOINTS if e.sidecar is not Sidecar.NONE}
    assert len(ours) == 25  # 17 of /v1, 8 of /api/security
    for method, path, name in ours:
        assert (method, path) in served, (method, path)
        assert served[(method, path)].operation["operationId"] == name


def test_the_seeds_typescript_snippets_type_check_against_the_package(ts_sdk, tmp_path):
    """§6.3, §8.4, §9.3, §10.1 and §10.3 as written, and seed 001's example requests, compile against
    the package's declarations."""
    import subprocess

    from sdk_typescript.node import SDK_DIR, tool

    scope = tmp_path / "node_modules" / "@cifer-io"
    scope.mkdir(parents=True)
    (scope / "sdk").symlink_to(SDK_DIR, target_is_directory=True)
    examples = sorted((SDK_DIR / "examples").glob("seed-*.ts"))
    assert [p.name for p in examples] == ["seed-001.ts", "seed-10.1.ts", "seed-10.3.ts", "seed-6.3.ts", "seed-8.4.ts",
                                          "seed-9.3.ts"]
    (tmp_path / "package.json").write_text(json.dumps({"name": "snippets", "private": True, "type": "module"}))
    # Twice: as a browser-and-Node project sees the declarations (the DOM library), and as a
    # Node-only one does (ES2022 and Node's types, no DOM).
    for lib in (["es2022", "dom"], ["es2022"]):
        (tmp_path / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
            "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "lib": lib, "strict": True,
            "strictPropertyInitialization": False, "noEmit": True, "types": ["node"],
            "typeRoots": [str(SDK_DIR / "node_modules" / "@types")]}, "files": [str(p) for p in examples]}))
        checked = subprocess.run([tool("node"), str(SDK_DIR / "node_modules" / "typescript" / "bin" / "tsc"), "-p", "."],
                                 cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, (lib, checked.stdout + checked.stderr)


def test_the_browser_bundle_seals_and_calls_with_web_apis_only(ts_sdk):
    """The SDK bundled for browsers, run where only web globals exist: WebCrypto (AES-256-GCM) and
    @noble/ciphers (ChaCha20-Poly1305) seal envelopes the Python core opens, and a call goes
    through fetch."""
    import base64
    import http.server
    import subprocess
    import threading

    from cifer.crypto.suites import ML_KEM_768
    from cifer.envelope import Keyring, decrypt
    from sdk_typescript.node import SDK_DIR, tool

    keyring = Keyring()
    recipient = keyring.add("cif_browserSDK0001", 2, ML_KEM_768, ML_KEM_768.generate_seed())
    key = {"ciferId": recipient.cifer_id, "keyVersion": 2, "algorithm": "ML-KEM-768",
           "encapsulationKey": base64.b64encode(ML_KEM_768.public_key_der(recipient.public_key)).decode()}
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's spelling)
            seen.append((self.path, self.headers["Authorization"], self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"success": True, "data": {"cifer_id": "cif_fromabrowser01"}}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ran = subprocess.run([tool("node"), str(SDK_DIR.parents[1] / "tests" / "sdk_typescript" / "scripts" / "browser.mjs"),
                              str(SDK_DIR), json.dumps(key), f"http://127.0.0.1:{server.server_port}"],
                             capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["node"] is False and result["created"] == "cif_fromabrowser01"
    assert decrypt(bytes.fromhex(result["envelope"]), keyring) == b"sealed in a browser"
    assert decrypt(bytes.fromhex(result["chacha"]), keyring) == b"chacha in a browser"
    assert bytes.fromhex(result["chacha"])[4:8] == b"\x00\x01\x01\x01"  # format 1, suite 0x0101
    assert seen == [("/v1/cifers", "Bearer sk_test_browser", b'{"name":"from a browser"}')]
