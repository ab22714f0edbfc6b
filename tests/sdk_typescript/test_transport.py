"""The client's manners that `cifer dev` cannot be made to show on demand (a 500, a 503, a server
that fails until the breaker opens), against a small HTTP server inside the same node process:
retries honour Retry-After with one idempotency key, the circuit breaker opens and recovers,
and the metrics and tracing hooks see every attempt."""

from __future__ import annotations

from sdk_typescript.node import run_js

# A server answering each request with the next scripted reply, recording what it received.
SERVER = """
const http = await import('node:http');
const script = [];
const seen = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    seen.push({ method: req.method, url: req.url, headers: req.headers, body, at: performance.now(), port: req.socket.remotePort });
    const [status, payload, headers] = script.shift() ?? [200, { success: true, data: { cifer_id: 'cif_abcdefghijklmnop' } }, {}];
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(payload));
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const baseUrl = `http://127.0.0.1:${server.address().port}`;
const error = (code, extra = {}) => ({ success: false, error: { code, message: code.toLowerCase(), details: extra },
                                       meta: { request_id: 'req_test' } });
"""


def test_a_503_is_retried_after_its_retry_after_with_one_idempotency_key(ts_sdk):
    result = run_js(SERVER + """
      script.push([503, error('SERVICE_UNAVAILABLE'), { 'Retry-After': '1' }], [503, error('SERVICE_UNAVAILABLE'), {}]);
      const client = new sdk.CiferClient({ baseUrl, apiKey: 'sk_test_x', rateLimitRetry: { initialDelay: 10, maxDelay: 20 } });
      const made = await client.cifers.create({ name: 'n' });
      out({ id: made.id, keys: seen.map((s) => s.headers['x-idempotency-key']), gaps: [seen[1].at - seen[0].at, seen[2].at - seen[1].at],
            auth: seen[0].headers['authorization'] });
      server.close();
    """)
    assert result["id"] == "cif_abcdefghijklmnop"
    assert len(result["keys"]) == 3 and len(set(result["keys"])) == 1 and result["keys"][0].startswith("idem_")
    assert result["gaps"][0] >= 990  # Retry-After: 1 is honoured although the backoff is 10 ms
    assert result["gaps"][1] < 900
    assert result["auth"] == "Bearer sk_test_x"


def test_a_get_carries_no_idempotency_key_and_a_500_is_an_internal_error_not_retried(ts_sdk):
    result = run_js(SERVER + """
      script.push([500, error('INTERNAL_ERROR'), { 'X-Request-ID': 'req_header' }]);
      const client = new sdk.CiferClient({ baseUrl });
      const failed = await failure(client.cifers.get('cif_abcdefghijklmnop'));
      out({ failed, requests: seen.length, key: seen[0].headers['x-idempotency-key'] ?? null, url: seen[0].url });
      server.close();
    """)
    assert result["failed"]["cls"] == "InternalError" and result["failed"]["status"] == 500
    assert result["failed"]["requestId"] == "req_test" and result["failed"]["isCiferError"]
    assert result["requests"] == 1 and result["key"] is None and result["url"] == "/v1/cifers/cif_abcdefghijklmnop"


def test_retries_give_up_with_service_unavailable_and_a_long_retry_after_is_not_slept(ts_sdk):
    result = run_js(SERVER + """
      for (let i = 0; i < 3; i++) script.push([503, error('SERVICE_UNAVAILABLE'), {}]);
      const client = new sdk.CiferClient({ baseUrl, maxRetries: 2, rateLimitRetry: { initialDelay: 1, maxDelay: 2 } });
      const exhausted = await failure(client.cifers.list());
      const before = seen.length;
      script.push([429, error('RATE_LIMIT_EXCEEDED', { retry_after: 30 }), { 'Retry-After': '3600' }]);
      const started = performance.now();
      const limited = await failure(client.cifers.list());
      out({ exhausted, tries: before, limited, waited: performance.now() - started });
      server.close();
    """)
    assert result["exhausted"]["cls"] == "ServiceUnavailableError" and result["tries"] == 3
    assert result["limited"]["cls"] == "RateLimitError" and result["limited"]["retryAfter"] == 3600
    assert result["waited"] < 1000


def test_the_circuit_breaker_opens_after_repeated_failures_and_a_probe_closes_it(ts_sdk):
    result = run_js(SERVER + """
      for (let i = 0; i < 3; i++) script.push([503, error('SERVICE_UNAVAILABLE'), {}]);
      const events = [];
      const client = new sdk.CiferClient({ baseUrl, maxRetries: 0, circuitBreaker: { failureThreshold: 3, resetTimeoutMs: 300 },
                                           onRequest: (e) => events.push(e) });
      const failures = [];
      for (let i = 0; i < 3; i++) failures.push((await failure(client.cifers.get('cif_abcdefghijklmnop'))).cls);
      const stateAfter = client.circuitState;
      const refused = await failure(client.cifers.get('cif_abcdefghijklmnop'));
      const sentWhileOpen = seen.length;
      await new Promise((r) => setTimeout(r, 350));
      const stateLater = client.circuitState;
      const probe = await client.cifers.get('cif_abcdefghijklmnop');
      out({ failures, stateAfter, refused, sentWhileOpen, stateLater, probe: probe.id, stateEnd: client.circuitState,
            events: events.map((e) => [e.operation, e.path, e.status ?? null, e.errorCode ?? null]) });
      server.close();
    """)
    assert result["failures"] == ["ServiceUnavailableError"] * 3
    assert result["stateAfter"] == "open"
    assert result["refused"]["cls"] == "CircuitOpenError" and result["refused"]["code"] == "CIRCUIT_OPEN"
    assert result["sentWhileOpen"] == 3  # the refused call never reached the server
    assert result["stateLater"] == "half-open" and result["stateEnd"] == "closed"
    assert result["events"][3] == ["getCifer", "/v1/cifers/{cifer_id}", None, "CIRCUIT_OPEN"]
    assert result["events"][-1] == ["getCifer", "/v1/cifers/{cifer_id}", 200, None]


def test_refusals_do_not_open_the_circuit(ts_sdk):
    result = run_js(SERVER + """
      for (let i = 0; i < 5; i++) script.push([404, error('NOT_FOUND'), {}]);
      const client = new sdk.CiferClient({ baseUrl, circuitBreaker: { failureThreshold: 2 } });
      const codes = [];
      for (let i = 0; i < 5; i++) codes.push((await failure(client.cifers.get('cif_abcdefghijklmnop'))).cls);
      out({ codes, state: client.circuitState });
      server.close();
    """)
    assert result == {"codes": ["NotFoundError"] * 5, "state": "closed"}


def test_a_tracer_gets_one_span_per_call_and_the_server_gets_its_traceparent(ts_sdk):
    result = run_js(SERVER + """
      script.push([429, error('RATE_LIMIT_EXCEEDED'), { 'Retry-After': '0' }]);
      const spans = [];
      const tracer = { startSpan(name, options) {
        const span = { name, attributes: { ...options.attributes }, status: null, ended: false,
          setAttribute(k, v) { this.attributes[k] = v; }, setStatus(s) { this.status = s; }, end() { this.ended = true; },
          spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }) };
        spans.push(span); return span; } };
      const events = [];
      const client = new sdk.CiferClient({ baseUrl, tracer, region: 'us-east', rateLimitRetry: { initialDelay: 1 },
                                           onRequest: (e) => events.push(e) });
      await client.cifers.create({ name: 'traced' });
      out({ spans: spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, ended: s.ended })),
            parents: seen.map((s) => s.headers['traceparent']),
            events: events.map((e) => ({ attempt: e.attempt, status: e.status ?? null, code: e.errorCode ?? null, retry: e.willRetry,
                                          timed: e.durationMs >= 0 })) });
      server.close();
    """)
    assert len(result["spans"]) == 1
    span = result["spans"][0]
    assert span["name"] == "CIFER createCifer" and span["ended"] and span["status"] is None
    assert span["attributes"]["cifer.region"] == "us-east" and span["attributes"]["cifer.attempts"] == 2
    assert span["attributes"]["url.template"] == "/v1/cifers"
    assert result["parents"] == ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"] * 2
    assert result["events"] == [{"attempt": 0, "status": 429, "code": "RATE_LIMIT_EXCEEDED", "retry": True, "timed": True},
                                {"attempt": 1, "status": 200, "code": None, "retry": False, "timed": True}]


def test_no_answer_is_a_connection_error_without_credentials_in_its_message(ts_sdk):
    result = run_js(SERVER + """
      server.close();
      await new Promise((r) => setTimeout(r, 20));
      const client = new sdk.CiferClient({ baseUrl: baseUrl + '/v1', maxRetries: 1, rateLimitRetry: { initialDelay: 1 },
                                           apiKey: 'sk_test_secret' });
      let withPassword = null;
      try { new sdk.CiferClient({ baseUrl: baseUrl.replace('http://', 'http://user:pw@') }); }
      catch (e) { withPassword = `${e.name}: ${e.message}`; }
      out({ refused: await failure(client.cifers.list()), withPassword });
    """)
    assert result["refused"]["cls"] == "CiferConnectionError" and result["refused"]["code"] == "CONNECTION_ERROR"
    assert result["refused"]["message"].endswith("ECONNREFUSED") and "127.0.0.1" in result["refused"]["message"]
    assert "sk_test_secret" not in result["refused"]["message"]
    assert result["withPassword"].startswith("TypeError") and "pw" not in result["withPassword"]


def test_an_answer_that_is_not_the_seeds_body_is_an_invalid_response(ts_sdk):
    result = run_js(SERVER + """
      script.push([200, { hello: 'world' }, {}], [502, 'bad gateway', {}]);
      const client = new sdk.CiferClient({ baseUrl, maxRetries: 0 });
      out([await failure(client.cifers.list()), await failure(client.cifers.list())]);
      server.close();
    """)
    assert result[0]["code"] == "INVALID_RESPONSE" and result[0]["cls"] == "CiferError"
    assert result[1]["cls"] == "ServiceUnavailableError" and result[1]["status"] == 502


def test_a_given_fetch_carries_every_call_as_in_a_browser(ts_sdk):
    """The browser path: no node:http, the fetch given (here Node's own) for JSON and for streams."""
    result = run_js(SERVER + """
      script.push([503, error('SERVICE_UNAVAILABLE'), { 'Retry-After': '0' }]);
      const calls = [];
      const fetch = (url, init) => { calls.push([init.method, new URL(url).pathname]); return globalThis.fetch(url, init); };
      const client = new sdk.CiferClient({ baseUrl, fetch, rateLimitRetry: { initialDelay: 1 } });
      const made = await client.cifers.create({ name: 'via fetch' });
      script.push([200, { ok: 1 }, {}]);
      const streamed = await client.encryptStream('cif_abcdefghijklmnop', new Uint8Array([1, 2, 3]));
      const body = await streamed.bytes();
      out({ id: made.id, calls, body: new TextDecoder().decode(body), uploaded: seen[2].body });
      server.close();
    """)
    assert result["id"] == "cif_abcdefghijklmnop"
    assert result["calls"] == [["POST", "/v1/cifers"]] * 2 + [["POST", "/v1/encrypt"]]
    assert result["body"] == '{"ok":1}' and result["uploaded"] == "\x01\x02\x03"


def test_connections_are_kept_alive_and_reused(ts_sdk):
    result = run_js(SERVER + """
      const client = new sdk.CiferClient({ baseUrl });
      for (let i = 0; i < 5; i++) await client.cifers.get('cif_abcdefghijklmnop');
      const sequential = new Set(seen.map((s) => s.port)).size;
      await Promise.all(Array.from({ length: 4 }, () => client.cifers.create({ name: 'n' })));
      for (let i = 0; i < 5; i++) await client.cifers.get('cif_abcdefghijklmnop');
      out({ sequential, overall: new Set(seen.map((s) => s.port)).size, requests: seen.length });
      server.close();
    """)
    assert result["sequential"] == 1  # five calls, one connection
    assert result["requests"] == 14 and result["overall"] <= 4  # four at once need four; the pool keeps them


def test_an_api_key_function_is_asked_on_every_attempt_and_the_environment_fills_the_defaults(ts_sdk):
    result = run_js(SERVER + """
      script.push([503, error('SERVICE_UNAVAILABLE'), { 'Retry-After': '0' }]);
      let n = 0;
      const rotating = new sdk.CiferClient({ baseUrl, apiKey: () => `sk_test_token${++n}`, rateLimitRetry: { initialDelay: 1 } });
      await rotating.cifers.get('cif_abcdefghijklmnop');
      process.env.CIFER_PROXY_URL = baseUrl + '/v1/';
      process.env.CIFER_API_KEY = 'sk_test_from_env';
      const fromEnv = new sdk.CiferClient();
      await fromEnv.cifers.get('cif_abcdefghijklmnop');
      delete process.env.CIFER_PROXY_URL;
      const fallback = new sdk.CiferClient({ apiKey: 'x' });
      out({ auth: seen.map((s) => s.headers['authorization']), baseUrl: fromEnv.baseUrl === baseUrl, fallback: fallback.baseUrl });
      server.close();
    """)
    assert result["auth"] == ["Bearer sk_test_token1", "Bearer sk_test_token2", "Bearer sk_test_from_env"]
    assert result["baseUrl"] is True and result["fallback"] == "http://localhost:8080"


def test_a_probe_answered_malformed_or_interrupted_does_not_leave_the_circuit_stuck(ts_sdk):
    result = run_js(SERVER + """
      script.push([503, error('SERVICE_UNAVAILABLE'), {}], [200, { hello: 'world' }, {}], [503, error('SERVICE_UNAVAILABLE'), {}]);
      const client = new sdk.CiferClient({ baseUrl, maxRetries: 0, circuitBreaker: { failureThreshold: 1, resetTimeoutMs: 50 } });
      const wait = () => new Promise((r) => setTimeout(r, 60));
      const first = (await failure(client.cifers.list())).cls;
      await wait();
      const malformed = (await failure(client.cifers.list())).code;  // the probe: a live, confused server
      const afterMalformed = client.circuitState;
      const reopened = (await failure(client.cifers.list())).cls;
      await wait();
      const broken = (async function* () { throw new Error('disk gone'); })();
      let interrupted = null;
      try { await (await client.encryptStream('cif_abcdefghijklmnop', broken)).bytes(); } catch (e) { interrupted = e.message; }
      const next = (await client.cifers.get('cif_abcdefghijklmnop')).id;  // the probe was freed, not taken for good
      out({ first, malformed, afterMalformed, reopened, interrupted, next, afterNext: client.circuitState });
      server.close();
    """)
    assert result["first"] == "ServiceUnavailableError" and result["malformed"] == "INVALID_RESPONSE"
    assert result["afterMalformed"] == "closed" and result["reopened"] == "ServiceUnavailableError"
    assert result["interrupted"] == "disk gone"
    assert result["next"] == "cif_abcdefghijklmnop" and result["afterNext"] == "closed"


def test_close_ends_the_pool_and_later_calls_fail(ts_sdk):
    result = run_js(SERVER + """
      const client = new sdk.CiferClient({ baseUrl });
      await client.cifers.get('cif_abcdefghijklmnop');
      await client.close();
      let after = null;
      try { await client.cifers.get('cif_abcdefghijklmnop'); } catch (e) { after = e.message; }
      out({ after, requests: seen.length });
      server.close();
    """)
    assert result == {"after": "this CIFER client is closed", "requests": 1}


def _snake(name: str) -> str:
    """camelCase to snake_case, with the unit the Python side spells: durationMs -> duration_s."""
    import re

    return re.sub(r"(?<!^)([A-Z])", r"_\1", name.removesuffix("Ms") + ("_s" if name.endswith("Ms") else "")).lower()


def test_the_python_sdk_has_the_same_section_6_6_options_and_events(ts_sdk):
    """The issue's rule: both SDKs' circuit breaker and hooks have the same names where the
    languages allow (camelCase and milliseconds here, snake_case and seconds there)."""
    import dataclasses
    import inspect

    from cifer import AsyncCiferClient, CircuitBreaker, RequestEvent

    result = run_js(SERVER + """
      const events = [];
      const client = new sdk.CiferClient({ baseUrl, onRequest: (e) => events.push(e), tracer: undefined,
                                           circuitBreaker: { failureThreshold: 5, resetTimeoutMs: 30000 } });
      await client.cifers.get('cif_abcdefghijklmnop');
      const breaker = new sdk.CircuitBreaker();
      out({ event: Object.keys(events[0]).sort(), breaker: ['failureThreshold', 'resetTimeoutMs'].filter((k) => k in breaker),
            defaults: [breaker.failureThreshold, breaker.resetTimeoutMs], state: client.circuitState });
      server.close();
    """)
    assert sorted(_snake(k) for k in result["event"]) == sorted(f.name for f in dataclasses.fields(RequestEvent))
    python_breaker = CircuitBreaker()
    assert all(hasattr(python_breaker, _snake(k)) for k in result["breaker"]) and len(result["breaker"]) == 2
    assert [python_breaker.failure_threshold, python_breaker.reset_timeout_s * 1000] == result["defaults"]
    parameters = inspect.signature(AsyncCiferClient).parameters
    assert {_snake(k) for k in ("circuitBreaker", "onRequest", "tracer")} <= set(parameters)
    assert result["state"] == "closed" and hasattr(AsyncCiferClient, "circuit_state")
