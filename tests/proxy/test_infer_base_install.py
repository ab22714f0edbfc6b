"""`POST /v1/infer` on the base install (no `[fhe]` extra): a 503 that says what is missing,
never a 500. The sidecar runs as a real process in which TenSEAL and numpy cannot be imported (a
`sitecustomize` puts a finder in front of every other that refuses them), as on a machine where
`pip install cifer` alone was run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from proxy.processes import sidecar_process

SITECUSTOMIZE = '''
import sys

class _BaseInstall:
    """The [fhe] extra's modules are not installed here."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _BaseInstall())
'''


@pytest.fixture(params=[("tenseal", "numpy"), ("tenseal",)], ids=["base", "no-tenseal"])
def absent(request) -> tuple[str, ...]:
    return request.param


@pytest.fixture
def base_install(tmp_path, absent):
    """The environment of a process without the [fhe] extra (or without TenSEAL alone)."""
    (tmp_path / "sitecustomize.py").write_text(f"ABSENT = {absent!r}\n" + SITECUSTOMIZE)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    for module in absent:  # the hook holds in a real process
        probe = subprocess.run([sys.executable, "-c", f"import {module}"], check=False, env=os.environ | env,
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
    return env


INPUT = {"model_id": "breast_cancer", "features": [0.5] * 30}


async def _infer(http, url: str, key: str):
    async with http.post(f"{url}/v1/infer", json=INPUT, headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status, await resp.json()


async def test_without_an_inference_service_the_503_names_it(key_service, http, base_install):
    key = key_service.api_key("usr_alice")
    with sidecar_process(key_service.url, env=base_install) as url:
        status, body = await _infer(http, url, key)
    assert status == 503, body
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "no inference service is configured" in body["error"]["message"]


async def test_without_the_fhe_extra_the_503_names_it(key_service, http, base_install):
    key = key_service.api_key("usr_alice")
    with sidecar_process(key_service.url, "--inference-url", "http://127.0.0.1:9", env=base_install) as url:
        status, body = await _infer(http, url, key)
    assert status == 503, body
    assert "pip install 'cifer[fhe]'" in body["error"]["message"]
