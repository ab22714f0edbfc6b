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
