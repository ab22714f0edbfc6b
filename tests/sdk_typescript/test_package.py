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
    assert len(ours) == 16
    for method, path, name in ours:
        assert (method, path) in served, (method, path)
        assert served[(method, path)].operation["operationId"] == name
