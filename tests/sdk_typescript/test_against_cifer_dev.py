"""The TypeScript SDK end to end against one real `cifer dev` (sidecar and key service in one
process, started by the module fixture `dev_server`): the seed's §6.3 example from the packed
package, every REST call's success and error paths, a real 429 retried after its Retry-After,
a 100 MiB stream in bounded memory, and `sealLocally` envelopes opened by `/v1/decrypt`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.running import DevServer, cifer_dev
from sdk_typescript.node import SDK_DIR, npm, run_js, tool

EXAMPLE = SDK_DIR / "examples" / "seed-6.3.ts"
SEED_KEY_PLACEHOLDER = "'sk_live_abc123...'"


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data directory holding a second principal's key (may read, encrypt and decrypt, may not
    create), made before the server opens it. (An admin command on the database of a running
    `cifer dev` used to break its next writes with SQLite's "disk I/O error"; fixed in
    db/engine.py, and shown by tests/dev/test_dev_oauth.py, whose admin commands run on a live one.)"""
    data = tmp_path_factory.mktemp("ts-dev") / "data"
    made = subprocess.run(
        [sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(data), "apikey", "create",
         "--owner", "usr_typescript_other", "--scope", "cifer:read", "--scope", "encrypt", "--scope", "decrypt"],
        capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr[-3000:]
    return data, json.loads(made.stdout)["key"]


@pytest.fixture(scope="module")
def dev_server(other_key) -> Iterator[DevServer]:
    """`cifer dev` (tests/dev/running.py) on the data directory that already holds the second key."""
    with cifer_dev(other_key[0]) as server:
        yield server


@pytest.fixture(scope="module")
def env(dev_server: DevServer) -> dict[str, str]:
    return dev_server.environment()


@pytest.fixture(scope="module")
def cifers(ts_sdk, env) -> dict[str, str]:
    """One CIFER per suite, shared by the tests that need any CIFER: `cifer dev` keeps seed §8.1's
    limit of 10 creates per hour, and this module makes 8."""
    return run_js("""
      const c = new sdk.CiferClient();
      const ids = {};
      for (const algorithm of ['ML-KEM-768', 'ML-KEM-1024', 'X-Wing']) ids[algorithm] = (await c.cifers.create({ name: algorithm, algorithm })).id;
      out(ids);
    """, env=env)


def test_the_packed_package_installs_into_an_empty_directory_and_runs_the_seeds_example(ts_sdk, dev_server, env, cifers,
                                                                                       tmp_path):
    packed = npm("pack", "--json", "--pack-destination", str(tmp_path), env={"npm_config_loglevel": "error"})
    tarball = tmp_path / json.loads(packed.stdout)[0]["filename"]
    files = {entry["path"] for entry in json.loads(packed.stdout)[0]["files"]}
    assert {"dist/esm/index.js", "dist/cjs/index.cjs", "dist/types/index.d.ts", "package.json"} <= files
    assert not any(path.startswith(("src/", "node_modules/")) for path in files)

    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "app", "private": True}))
    npm("install", "--prefer-offline", "--no-save", str(tarball), cwd=app, timeout=180)
    source = EXAMPLE.read_text()
    assert source.count(SEED_KEY_PLACEHOLDER) == 1
    (app / "example.ts").write_text(source.replace(SEED_KEY_PLACEHOLDER, json.dumps(dev_server.api_key)))
    (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "strict": True, "outDir": "out",
        "types": ["node"], "typeRoots": [str(SDK_DIR / "node_modules" / "@types")]}, "files": ["example.ts"]}))
    compiled = subprocess.run([tool("node"), str(SDK_DIR / "node_modules" / "typescript" / "bin" / "tsc"), "-p", "."],
                              cwd=app, capture_output=True, text=True, timeout=60)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    # No "type": "module" in the app: tsc wrote CommonJS, so this runs the package's require() build.
    ran = subprocess.run([tool("node"), "out/example.js"], cwd=app, capture_output=True, text=True, timeout=60, env=env)
    assert ran.stderr == "" and ran.stdout == "Decrypted: secret data\n"
    # The same package imported as ES modules.
    esm = subprocess.run([tool("node"), "--input-type=module", "-e",
                          "import { CiferClient } from '@cifer-io/sdk'; const c = new CiferClient();"
                          f"const r = await c.encrypt({json.dumps(cifers['ML-KEM-768'])}, new Uint8Array([104, 105]));"
                          "console.log((await c.decrypt(r.ciphertext)).plaintext.toString());"],
                         cwd=app, capture_output=True, text=True, timeout=60, env=env)
    assert esm.stdout == "hi\n", esm.stderr


def test_every_cifer_call_succeeds(ts_sdk, env):
    result = run_js("""
      const c = new sdk.CiferClient();
      const made = await c.cifers.create({ name: 'ts-calls', description: 'made by the TS SDK', algorithm: 'ML-KEM-1024',
                                           metadata: { team: 'sdk' }, policy: { auto_rotate_days: 90 } });
      const second = await c.cifers.create({ name: 'ts-calls-2', idempotencyKey: 'idem_ts_calls_2' });
      const again = await c.cifers.create({ name: 'ts-calls-2', idempotencyKey: 'idem_ts_calls_2' });
      const got = await c.cifers.get(made.id);
      const first = await c.cifers.list({ limit: 1 });
      const next = await c.cifers.list({ limit: 1, cursor: first.nextCursor });
      const active = await c.cifers.list({ status: 'active', limit: 100 });
      const updated = await c.cifers.update(made.id, { name: 'renamed', metadata: { team: 'platform' } });
      const key1 = await c.keys.get(made.id);
      const sealed = await c.encrypt(made.id, new TextEncoder().encode('before rotation'), { metadata: { purpose: 'test' } });
      const rotated = await c.cifers.rotate(made.id, { reEncryptionWindowDays: 7, reason: 'test' });
      const key2 = await c.keys.get(made.id);
      const opened = await c.decrypt(sealed.ciphertext);
      const openedFromText = await c.decrypt(Buffer.from(sealed.ciphertext).toString('base64'));
      const openedFromResult = await c.decrypt(sealed);
      const revoked = await c.cifers.revoke(second.id);
      const revokedList = await c.cifers.list({ status: 'revoked', limit: 100 });
      out({
        made: { id: made.id, name: made.name, algorithm: made.keyAlgorithm, version: made.keyVersion, spki: made.encapsulationKey?.length,
                created: made.createdAt instanceof Date },
        replayed: again.id === second.id, got: [got.id, got.description, got.metadata, got.policy.auto_rotate_days],
        pages: [first.cifers.length, first.hasMore, next.cifers.length, next.cifers[0].id !== first.cifers[0].id],
        activeHas: active.cifers.some((x) => x.id === made.id), updated: [updated.name, updated.metadata],
        keys: [key1.keyVersion, key1.algorithm, key2.keyVersion, key1.encapsulationKey.length],
        sealed: [sealed.ciphertext.subarray(0, 6).toString('hex'), sealed.algorithm.kem, sealed.keyVersion, sealed.envelopeSize === sealed.ciphertext.length],
        rotated: [rotated.oldKeyVersion, rotated.newKeyVersion, rotated.reEncryptionDeadline instanceof Date],
        opened: [opened.plaintext.toString(), opened.keyVersion, opened.ciferId === made.id, opened.metadata,
                 openedFromText.plaintext.toString(), openedFromResult.plaintext.toString()],
        revoked: [revoked.ciferId === second.id, revoked.status, revoked.revokedAt instanceof Date,
                  revokedList.cifers.some((x) => x.id === second.id)],
      });
    """, env=env)
    assert result["made"] == {"id": result["made"]["id"], "name": "ts-calls", "algorithm": "ML-KEM-1024", "version": 1,
                              "spki": 22 + 1568, "created": True}
    assert result["replayed"] is True
    assert result["got"][1:] == ["made by the TS SDK", {"team": "sdk"}, 90]
    assert result["pages"] == [1, True, 1, True]
    assert result["activeHas"] and result["updated"] == ["renamed", {"team": "platform"}]
    assert result["keys"] == [1, "ML-KEM-1024", 2, 22 + 1568]
    assert result["sealed"] == ["434946520001", "ML-KEM-1024", 1, True]
    assert result["rotated"] == [1, 2, True]
    assert result["opened"] == ["before rotation", 1, True, {"purpose": "test"}, "before rotation", "before rotation"]
    assert result["revoked"] == [True, "revoked", True, True]


def test_every_webhook_call_succeeds(ts_sdk, env, cifers):
    result = run_js("""
      const c = new sdk.CiferClient();
      const target = { id: process.env.TARGET };
      const hook = await c.webhooks.create({ url: 'https://hooks.example.com/cifer', events: ['cifer.rotated', 'cifer.revoked'],
                                             secret: 'whsec_typescript_sdk_0123456789' });
      const listed = await c.webhooks.list({ limit: 100 });
      const got = await c.webhooks.get(hook.id);
      const filtered = await c.webhooks.update(hook.id, { ciferIds: [target.id], events: ['cifer.rotated'] });
      const kept = await c.webhooks.update(hook.id, { url: 'https://hooks.example.com/other' });
      const unfiltered = await c.webhooks.update(hook.id, { ciferIds: null });
      const deliveries = await c.webhooks.deliveries(hook.id, { limit: 5 });
      const deleted = await c.webhooks.delete(hook.id);
      const gone = await failure(c.webhooks.get(hook.id));
      out({ hook: [hook.url, hook.events, hook.ciferIds ?? null, 'secret' in hook.raw],
            listed: listed.webhooks.some((w) => w.id === hook.id), got: got.id === hook.id,
            filtered: [filtered.ciferIds, filtered.events], kept: [kept.url, kept.ciferIds],
            unfiltered: unfiltered.ciferIds ?? null, deliveries: Array.isArray(deliveries),
            deleted: [deleted.id === hook.id, deleted.deleted], gone: gone.cls, target: target.id });
    """, env={**env, "TARGET": cifers["ML-KEM-768"]})
    assert result["hook"] == ["https://hooks.example.com/cifer", ["cifer.rotated", "cifer.revoked"], None, False]
    assert result["listed"] and result["got"]
    assert result["filtered"] == [[result["target"]], ["cifer.rotated"]]
    assert result["kept"] == ["https://hooks.example.com/other", [result["target"]]]
    assert result["unfiltered"] is None and result["deliveries"]
    assert result["deleted"] == [True, True] and result["gone"] == "NotFoundError"


def test_each_error_class_comes_from_cifer_dev(ts_sdk, env, cifers, other_key):
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const other = new sdk.CiferClient({{ apiKey: {json.dumps(other_key[1])} }});
      const mine = {{ id: {json.dumps(cifers["ML-KEM-768"])} }};
      const sealed = await c.encrypt(mine.id, new Uint8Array([1, 2, 3]));
      const doomed = await c.cifers.create({{ name: 'doomed' }});
      await c.cifers.revoke(doomed.id);
      out({{
        unknownKey: await failure(new sdk.CiferClient({{ apiKey: 'sk_test_' + 'A'.repeat(56) }}).cifers.list()),
        notFound: await failure(c.cifers.get('cif_' + 'Z'.repeat(20))),
        badId: await failure(c.encrypt('not-a-cifer-id', new Uint8Array([1]))),
        badCiphertext: await failure(c.decrypt(new Uint8Array([67, 73, 70, 82, 0, 1, 0, 9]))),
        badText: await failure(c.decrypt('not base64!')),
        badRequest: await failure(c.cifers.create({{ name: 'x', algorithm: 'RSA-2048' }})),
        forbidden: await failure(other.cifers.create({{ name: 'not allowed' }})),
        notYours: await failure(other.decrypt(sealed.ciphertext)),
        revoked: await failure(c.encrypt(doomed.id, new Uint8Array([1]))),
        revokedTwice: await failure(c.cifers.revoke(doomed.id)),
        rotateRevoked: await failure(c.cifers.rotate(doomed.id)),
        updateRevoked: await failure(c.cifers.update(doomed.id, {{ name: 'again' }})),
        noKey: await failure(c.keys.get('cif_' + 'Y'.repeat(20))),
        badList: await failure(c.cifers.list({{ status: 'bogus' }})),
        noHook: await failure(c.webhooks.get('wh_' + 'Q'.repeat(24))),
        badHookId: await failure(c.webhooks.get('whk_nope')),
        badHook: await failure(c.webhooks.create({{ url: 'ftp://example.com', events: ['cifer.created'], secret: 'short' }})),
        streamRevoked: await failure(c.encryptStream(doomed.id, new Uint8Array(10))),
        streamGarbage: await failure(c.decryptStream(new Uint8Array(2000).fill(65))),
        mine: mine.id,
      }});
    """, env=env)
    expected = {
        "unknownKey": ("AuthenticationError", "UNAUTHORIZED", 401),
        "notFound": ("NotFoundError", "NOT_FOUND", 404),
        "badId": ("InvalidCiferIdError", "INVALID_CIFER_ID", 400),
        "badCiphertext": ("InvalidCiphertextError", "INVALID_CIPHERTEXT", 400),
        "badText": ("InvalidCiphertextError", "INVALID_CIPHERTEXT", None),
        "badRequest": ("InvalidRequestError", "INVALID_REQUEST", 400),
        "forbidden": ("PermissionDeniedError", "FORBIDDEN", 403),
        "notYours": ("UnauthorizedDecryptError", "UNAUTHORIZED_DECRYPT", 403),
        "revoked": ("CiferRevokedError", "CIFER_REVOKED", 410),
        "revokedTwice": ("CiferRevokedError", "CIFER_REVOKED", 410),
        "rotateRevoked": ("CiferRevokedError", "CIFER_REVOKED", 410),
        "updateRevoked": ("CiferRevokedError", "CIFER_REVOKED", 410),
        "noKey": ("NotFoundError", "NOT_FOUND", 404),
        "badList": ("InvalidRequestError", "INVALID_REQUEST", 400),
        "noHook": ("NotFoundError", "NOT_FOUND", 404),
        "badHookId": ("InvalidRequestError", "INVALID_REQUEST", 400),
        "badHook": ("InvalidRequestError", "INVALID_REQUEST", 400),
        "streamRevoked": ("CiferRevokedError", "CIFER_REVOKED", 410),
        "streamGarbage": ("InvalidCiphertextError", "INVALID_CIPHERTEXT", 400),
    }
    for name, (cls, code, status) in expected.items():
        failure = result[name]
        assert (failure["cls"], failure["code"], failure["status"]) == (cls, code, status), (name, failure)
        assert failure["isCiferError"], name
        if status is not None:
            assert failure["requestId"].startswith("req_"), name
    assert result["notYours"]["ciferId"] == result["mine"]
    assert "sk_test_" not in result["unknownKey"]["message"]


def test_a_real_429_is_retried_after_its_retry_after(ts_sdk, env):
    """A CIFER whose policy allows one decrypt per 3 s window: the limit is exhausted, a client
    without retries sees RateLimitError, and the default client waits Retry-After and succeeds."""
    result = run_js("""
      const c = new sdk.CiferClient({ maxRetries: 0 });
      const limited = await c.cifers.create({ name: 'limited', policy: { rate_limits: { decrypt: '1/3' } } });
      const seal = async () => (await c.encrypt(limited.id, new TextEncoder().encode(`m${Math.random()}`))).ciphertext;
      const envelopes = [];
      for (let i = 0; i < 10; i++) envelopes.push(await seal());
      // Exhaust the window: decrypt until refused (at most two tries: one is allowed per window).
      let refused = null;
      for (let i = 0; i < 3 && !refused; i++) refused = await failure(c.decrypt(envelopes.pop()));
      // At once again, so the window is full, then with retries.
      let attempt = null;
      for (let round = 0; round < 3; round++) {
        while (!(await failure(c.decrypt(envelopes.pop())))) {}
        const events = [];
        const retrying = new sdk.CiferClient({ onRequest: (e) => events.push(e) });
        const started = performance.now();
        const opened = await retrying.decrypt(envelopes.pop());
        attempt = { elapsed: performance.now() - started, plaintext: opened.plaintext.toString().slice(0, 1),
                    events: events.map((e) => ({ status: e.status ?? null, retry: e.willRetry })) };
        if (events.length > 1) break;  // the window turned over between the two calls: try again
      }
      out({ refused, attempt });
    """, env=env, timeout=60)
    refused = result["refused"]
    assert refused["cls"] == "RateLimitError" and refused["code"] == "RATE_LIMIT_EXCEEDED" and refused["status"] == 429
    assert 1 <= refused["retryAfter"] <= 3 and refused["details"]["limit"] == 1
    attempt = result["attempt"]
    assert attempt["events"][0] == {"status": 429, "retry": True}
    assert attempt["events"][-1] == {"status": 200, "retry": False}
    assert attempt["plaintext"] == "m"
    assert attempt["elapsed"] >= 900  # at least the second Retry-After promises, not the 250 ms backoff


def test_a_100_mib_stream_round_trips_in_bounded_memory(ts_sdk, env, cifers):
    """100 MiB up to /v1/encrypt, its envelope straight up to /v1/decrypt, the plaintext down:
    with garbage collected as it goes, the bytes held never come near the 100 MiB that passed."""
    result = run_js(f"""
      const {{ createHash }} = await import('node:crypto');
      const {{ Readable }} = await import('node:stream');
      const MiB = 1 << 20;
      const c = new sdk.CiferClient();
      const sent = createHash('sha256'), received = createHash('sha256');
      async function* source() {{
        for (let i = 0; i < 100; i++) {{
          const piece = Buffer.alloc(MiB, i);
          piece.writeUInt32BE(Math.imul(i, 2654435761) >>> 0, MiB / 2);
          sent.update(piece);
          yield piece;
        }}
      }}
      global.gc();
      const base = process.memoryUsage();
      let peakBuffers = 0, peakRss = 0;
      const timer = setInterval(() => {{
        global.gc();
        const now = process.memoryUsage();
        peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
        peakRss = Math.max(peakRss, now.rss);
      }}, 25);
      // A Node Readable up, the answer's web ReadableStream straight back up, async iteration down.
      const encrypted = await c.encryptStream({json.dumps(cifers["ML-KEM-768"])}, Readable.from(source(), {{ objectMode: false }}),
                                              {{ metadata: {{ file: 'big.bin', 'ü': '✓ 𝒳' }} }});
      const decrypted = await c.decryptStream(encrypted.body);  // the envelope streams straight back up
      let length = 0;
      for await (const part of decrypted) {{ received.update(part); length += part.length; }}
      clearInterval(timer);
      out({{ length, same: sent.digest('hex') === received.digest('hex'), buffersMiB: peakBuffers / MiB,
             rssGrowthMiB: (peakRss - base.rss) / MiB,
             headers: [encrypted.ciferId, encrypted.keyVersion, encrypted.algorithm, decrypted.metadata] }});
    """, env=env, timeout=120, node_args=("--expose-gc",))
    assert result["length"] == 100 * 2**20 and result["same"]
    assert result["headers"] == [cifers["ML-KEM-768"], 1, "ML-KEM-768", {"file": "big.bin", "ü": "✓ \U0001d4b3"}]
    # Measured 19-30 MiB: what is in flight between the two uploads and downloads (the source runs
    # about 15 MiB ahead of the plaintext), whatever the length; Node's fetch held all 100 MiB.
    assert result["buffersMiB"] < 40, result
    assert result["rssGrowthMiB"] < 80, result


def test_a_stream_whose_ciphertext_fails_part_way_ends_in_stream_error(ts_sdk, env, cifers):
    result = run_js("""
      const c = new sdk.CiferClient();
      const made = { id: process.env.TARGET };
      const envelope = await (await c.encryptStream(made.id, new Uint8Array(5 * 65536 + 10))).bytes();
      envelope[envelope.length - 40] ^= 1;  // inside the final chunk: earlier chunks open, the last does not
      const opened = await c.decryptStream(envelope);
      let received = 0, error = null;
      try { for await (const part of opened) received += part.length; } catch (e) { error = [e.constructor.name, e.code]; }
      out({ received, error });
    """, env={**env, "TARGET": cifers["ML-KEM-768"]})
    assert result["error"] == ["StreamError", "STREAM_ABORTED"]
    assert result["received"] < 5 * 65536 + 10


@pytest.mark.parametrize("algorithm", ["ML-KEM-768", "ML-KEM-1024", "X-Wing"])
def test_seal_locally_output_is_opened_by_v1_decrypt(ts_sdk, env, cifers, algorithm):
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const made = {{ id: {json.dumps(cifers[algorithm])} }};
      const plaintext = new TextEncoder().encode('sealed in node, opened by the key service ✓'.repeat(3000));
      const envelope = await c.sealLocally(made.id, plaintext, {{ metadata: {{ origin: 'browser', 'ü': '✓' }} }});
      const opened = await c.decrypt(envelope);
      const pieces = (async function* () {{ for (let i = 0; i < 4; i++) yield plaintext.subarray(i * 1000, (i + 1) * 1000); }})();
      const streamed = await c.sealStreamLocally(made.id, pieces, {{ chunkSize: 1024 }});
      const streamedOpen = await (await c.decryptStream(streamed)).bytes();
      out({{ same: Buffer.from(opened.plaintext).equals(Buffer.from(plaintext)), version: opened.keyVersion,
             id: opened.ciferId === made.id, metadata: opened.metadata,
             streamed: Buffer.from(streamedOpen).equals(Buffer.from(plaintext.subarray(0, 4000))) }});
    """, env=env)
    assert result == {"same": True, "version": 1, "id": True, "metadata": {"origin": "browser", "ü": "✓"}, "streamed": True}
