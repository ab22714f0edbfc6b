"""The TypeScript SDK's `shutdownSidecar()` against a real `cifer proxy` lending a pod's identity
(as an injected sidecar does): the sidecar answers and exits 0, and the call carries no credential
of the client's (a sidecar refuses one with a 403, which the SDK throws typed)."""

from __future__ import annotations

from proxy.processes import lending_sidecar, stop
from sdk_typescript.node import run_js


def test_shutdown_sidecar_stops_the_pods_sidecar_which_exits_0(ts_sdk):
    proc, url = lending_sidecar()
    try:
        result = run_js(f"""
          const client = new sdk.CiferClient({{ baseUrl: {url!r}, apiKey: 'sk_test_{'x' * 56}' }});
          await client.shutdownSidecar();
          out({{ done: true }});
        """)
        assert result == {"done": True}
        assert proc.wait(timeout=20) == 0
    finally:
        stop(proc)


def test_a_refusal_is_thrown_as_its_typed_error(ts_sdk):
    proc, url = lending_sidecar(lends=False)  # lends nothing: nobody may stop it
    try:
        result = run_js(f"""
          const client = new sdk.CiferClient({{ baseUrl: {url!r} }});
          out(await failure(client.shutdownSidecar()));
        """)
        assert result["status"] == 403 and result["code"] == "FORBIDDEN"
        assert proc.poll() is None
    finally:
        stop(proc)
