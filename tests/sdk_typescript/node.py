"""Running the TypeScript SDK from pytest: the package built once per session, and JavaScript
snippets run by `node` against it, each printing one JSON line that the test reads.

A machine without node or npm fails these tests (CI installs both); nothing here skips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk" / "typescript"
DIST_ESM = SDK_DIR / "dist" / "esm" / "index.js"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH: the TypeScript SDK's tests need Node.js 20 and npm"
    return path


def npm(*args: str, cwd: Path = SDK_DIR, timeout: float = 120, env: Mapping[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([tool("npm"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
                               "npm_config_audit": "false", **(env or {})})
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def build() -> Path:
    """node_modules from the lockfile if absent (setup-test-env normally ran `npm ci`), then dist/."""
    tool("node")
    if not (SDK_DIR / "node_modules" / ".package-lock.json").exists():
        npm("ci", "--prefer-offline", timeout=300)
    npm("run", "build")
    assert DIST_ESM.exists()
    return SDK_DIR


PRELUDE = f"""
const sdk = await import({json.dumps(DIST_ESM.as_uri())});
const out = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const fromHex = (text) => Uint8Array.from(Buffer.from(text, 'hex'));
/* The parts of an error a test looks at. */
const failure = async (promise) => {{
  try {{ await promise; return null; }}
  catch (e) {{
    return {{ cls: e.constructor.name, code: e.code ?? null, status: e.status ?? null, requestId: e.requestId ?? null,
             retryAfter: e.retryAfter ?? null, details: e.details ?? null, ciferId: e.ciferId ?? null,
             isCiferError: e instanceof sdk.CiferError, message: String(e.message) }};
  }}
}};
"""


def run_js(code: str, *, env: Mapping[str, str] | None = None, timeout: float = 60, cwd: Path | None = None,
           stdin: bytes | None = None, node_args: tuple[str, ...] = ()) -> object:
    """Runs `code` (an ES module body, with `sdk`, `out`, `failure`, `hex`, `fromHex` in scope) and
    returns the JSON it printed last with `out`."""
    done = subprocess.run([tool("node"), *node_args, "--input-type=module", "-e", PRELUDE + code], capture_output=True,
                          timeout=timeout, env=dict(env or os.environ), cwd=cwd, input=stdin)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, f"node failed ({done.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}"
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, f"node printed nothing:\n{stderr[-3000:]}"
    return json.loads(lines[-1])
