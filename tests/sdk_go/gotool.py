"""Running the Go toolchain on the Go SDK (sdk/go) from the tests: offline (no module proxy is
reachable, and the SDK needs none: standard library only), with the build cache kept between
runs, and CI=true so that a Go test that needs a server fails rather than skips without one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SDK = Path(__file__).resolve().parents[2] / "sdk" / "go"
MODULE = "github.com/cifer-io/sdk-go"


def go_environment(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    # CGO_ENABLED=0: setup-test-env installs golang-go without its recommended gcc, and Go 1.19
    # would still try cgo; the SDK needs none (net's pure-Go resolver).
    env.update({"GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOSUMDB": "off", "CGO_ENABLED": "0", "CI": "true"})
    if "GOCACHE" not in env and not os.access(Path.home(), os.W_OK):
        env["GOCACHE"] = "/tmp/cifer-go-build"  # a home without a writable cache (a CI user)
    env.update(extra)
    return env


def go(*args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path = SDK
       ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["go", *args], cwd=cwd, env=env or go_environment(), capture_output=True, text=True,
                          timeout=timeout)


def gofmt() -> str:
    """gofmt from PATH, else the one in GOROOT (Debian links only `go` into /usr/bin on some releases)."""
    found = shutil.which("gofmt")
    if found:
        return found
    goroot = go("env", "GOROOT").stdout.strip()
    return str(Path(goroot) / "bin" / "gofmt")


def build(package: str, output: Path) -> Path:
    """`go build -o output ./package`; the binary's path."""
    made = go("build", "-o", str(output), f"./{package}")
    assert made.returncode == 0, made.stderr
    return output
