"""Acceptance: `pip install .` without extras, into a fresh venv, gives a working `cifer dev` and
`from cifer import CiferClient`, and none of the extras' libraries. Offline: pip takes the
wheels from this machine's configured indexes. The sources are copied first (what git tracks
or would track), so that the build writes nothing into the working tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cifer import apikeys
from ports import free_port
from proxy.processes import stop, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
EXTRAS_MODULES = ("kopf", "kubernetes", "asyncpg", "redis", "pkcs11", "tenseal", "numpy", "reportlab", "grpc",
                  "google")
"""The import names of every extra's distributions (python-pkcs11 is `pkcs11`; protobuf's is the
`google` namespace, which find_spec answers for without importing a submodule's parent)."""
NOT_THE_SDK = ("cifer_keyservice", "cifer_proxy", "cifer_dev", "cifer_operator", "cifer_inference",
               "sqlalchemy", "alembic", "aiosqlite", "prometheus_client", "jwt")


def _sources(destination: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():  # a file deleted in the working tree is still listed
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin directory of a fresh venv holding `pip install .`; the install's time is printed."""
    root = tmp_path_factory.mktemp("base-install")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    bin_dir = root / "venv" / "bin"
    # This pip installs into the new venv (--python): no pip of its own to bootstrap there.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install", "--quiet",
                    "--no-compile", str(_sources(root / "src"))], check=True, capture_output=True, timeout=600)
    print(f"base install: {time.monotonic() - started:.1f} s")
    yield bin_dir


def _environment(**extra: str) -> dict[str, str]:
    """This environment without anything that would point the venv's Python at the repository."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CIFER_API_KEY")} | extra


def _python(base: Path, code: str, tmp_path: Path, **env: str) -> str:
    done = subprocess.run([str(base / "python"), "-c", code], cwd=tmp_path, env=_environment(**env),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_no_extra_is_installed(base, tmp_path):
    found = _python(base, f"import importlib.util as u; print([m for m in {EXTRAS_MODULES!r} if u.find_spec(m)])",
                    tmp_path)
    assert found.strip() == "[]"


def test_the_sdk_import_loads_the_sdk_only(base, tmp_path):
    loaded = json.loads(_python(base, "import json, sys; from cifer import CiferClient; print(json.dumps(sorted(sys.modules)))",
                                tmp_path))
    assert "cifer.sdk" in loaded
    assert not [m for m in loaded if m.split(".", 1)[0] in NOT_THE_SDK]


def test_cifer_dev_serves_an_encrypt_decrypt_round_trip(base, tmp_path):
    key = apikeys.generate_api_key(live=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(base / "cifer"), "dev", "--port", str(port), "--data-dir", str(tmp_path / "data")],
                            cwd=tmp_path, env=_environment(CIFER_API_KEY=key), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until_healthy(url, proc)
        opened = _python(base, """
from cifer import CiferClient
with CiferClient() as client:
    cifer_id = client.cifers.create(name="base-install").id
    print(client.decrypt(client.encrypt(cifer_id, b"no extras").ciphertext).plaintext.decode())
""", tmp_path, CIFER_PROXY_URL=url, CIFER_API_KEY=key)
        assert opened == "no extras\n"
    finally:
        stop(proc)


@pytest.mark.parametrize(("words", "extra", "feature"), [
    (("keyservice", "--database-url", "postgresql://cifer@127.0.0.1:1/cifer", "migrate"), "postgres",
     "cifer keyservice: a PostgreSQL database"),
    (("dev", "--port", "{port}", "--pkcs11-library", "/nowhere/libpkcs11.so", "--pkcs11-token", "t"), "hsm",
     "cifer dev: a PKCS#11 token"),
    (("keyservice", "--redis-url", "redis://127.0.0.1:1/0", "serve", "--port", "{port}"), "redis",
     "cifer keyservice: rate-limit counters in Redis (redis_url)"),
], ids=["postgres", "hsm", "redis"])
def test_an_option_whose_extra_is_missing_says_so_in_one_line(base, tmp_path, words, extra, feature):
    argv = [word.format(port=free_port()) for word in words]
    run = subprocess.run([str(base / "cifer"), argv[0], "--data-dir", str(tmp_path / "data"), *argv[1:]],
                         cwd=tmp_path, env=_environment(CIFER_PKCS11_PIN="1234"), capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.splitlines()[-1] == f"{feature} needs the {extra} extra: pip install 'cifer[{extra}]'"


def test_a_command_whose_extra_is_missing_says_so_in_one_line(base, tmp_path):
    listed = subprocess.run([str(base / "cifer"), "--help"], cwd=tmp_path, env=_environment(),
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    words = " ".join(listed.stdout.split())  # as argparse wraps it, unwrapped
    assert "operator (not installed: pip install 'cifer[operator]')" in words
    assert "inference (not installed: pip install 'cifer[fhe]')" in words
    run = subprocess.run([str(base / "cifer"), "operator"], cwd=tmp_path, env=_environment(),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr == "cifer operator needs the operator extra: pip install 'cifer[operator]'\n"
