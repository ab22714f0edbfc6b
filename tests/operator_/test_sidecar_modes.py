"""Where the injector puts the sidecar (operator/cifer_operator/sidecar_modes.py): native (an init
container that restarts, for API servers 1.29+) or classic (the first container, with a start
hook), chosen by the pod's annotation, the injector's setting, or the server's version.

The patches are applied (jsonpatch, as the API server applies them) to real pod specs and the
results validated with kubernetes-validate, strictly, against Kubernetes 1.30's schema. Our test
node's kubelet is 1.20, which has no native sidecars: native mode can be shown here only as
validated patches; classic mode also runs on the node (tests/cluster)."""

from __future__ import annotations

import dataclasses
import json

import jsonpatch
import kubernetes_validate
import pytest

from cifer_operator import sidecar_modes as modes
from cifer_operator.injection import BY_POD, InjectorSettings, Refusal, patch

SETTINGS = InjectorSettings(image="ghcr.io/cifer/cifer:0.1.0", keyservice_url="https://ks:8081")
JOB = {"apiVersion": "batch/v1", "kind": "Job", "name": "nightly", "uid": "0b9f0d3e-6c2a-4c8e-9d55-3b7d3c0f6a11",
       "controller": True, "blockOwnerDeletion": True}


async def no_names(namespace: str) -> dict[str, str]:
    raise AssertionError("no CiferKey name to look up")


def pod(*, owners: list | None = None, init: list | None = None, mode: str | None = None) -> dict:
    annotations = {"cifer.io/inject": "true", **({"cifer.io/sidecar-mode": mode} if mode else {})}
    spec = {"restartPolicy": "Never" if owners else "Always",
            "containers": [{"name": "app", "image": "registry.example.com/app:1"}]}
    if init is not None:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "shop", "annotations": annotations,
                         **({"ownerReferences": owners} if owners else {})}, "spec": spec}


async def injected(original: dict, *, server: tuple[int, int] | None, settings: InjectorSettings = SETTINGS) -> dict:
    ops = await patch(original, "shop", BY_POD, settings, no_names, server)
    result = jsonpatch.apply_patch(original, ops)
    kubernetes_validate.validate(result, "1.30.0", strict=True)
    return result


def env_of(container: dict) -> dict[str, str]:
    return {var["name"]: var["value"] for var in container.get("env", [])}


def test_the_servers_version_is_read_as_cloud_providers_spell_it():
    assert modes.version_of({"major": "1", "minor": "29"}) == (1, 29)
    assert modes.version_of({"major": "1", "minor": "30+"}) == (1, 30)
    assert modes.version_of({"major": "", "minor": "x"}) is None and modes.version_of({}) is None


@pytest.mark.parametrize(("asked", "default", "server", "mode"), [
    (None, "auto", (1, 29), "native"), (None, "auto", (1, 30), "native"),
    (None, "auto", (1, 28), "classic"),  # its feature gate cannot be seen from here
    (None, "auto", (1, 20), "classic"), (None, "auto", None, "classic"),  # version unknown: what works everywhere
    (None, "classic", (1, 30), "classic"), (None, "native", (1, 20), "native"),  # the chart forces
    ("classic", "native", (1, 30), "classic"), ("native", "classic", (1, 20), "native"),  # the pod forces
])
def test_the_mode_is_the_pods_the_injectors_or_the_servers(asked, default, server, mode):
    assert modes.chosen(asked, default, server) == mode


async def test_classic_puts_the_sidecar_first_with_a_hook_that_waits_for_it():
    result = await injected(pod(), server=(1, 20))
    first, app = result["spec"]["containers"]
    assert first["name"] == "cifer-proxy" and app["name"] == "app"
    assert first["lifecycle"]["postStart"]["exec"]["command"] == [
        "cifer", "wait", "--url", "http://127.0.0.1:15080/v1/health", "--timeout-s", "60"]
    assert "restartPolicy" not in first and "startupProbe" not in first
    assert env_of(app) == {"CIFER_PROXY_URL": "http://localhost:8080"}  # no Job: nothing to stop it with


async def test_a_jobs_pod_in_classic_mode_is_told_how_to_stop_its_sidecar():
    result = await injected(pod(owners=[JOB]), server=(1, 20))
    app = result["spec"]["containers"][1]
    assert env_of(app)["CIFER_SHUTDOWN_URL"] == "http://localhost:8080/v1/shutdown"
    other_owner = {**JOB, "apiVersion": "apps/v1", "kind": "ReplicaSet"}
    assert "CIFER_SHUTDOWN_URL" not in env_of((await injected(pod(owners=[other_owner]), server=(1, 20)))
                                              ["spec"]["containers"][1])


async def test_native_mode_makes_the_sidecar_the_first_init_container_that_restarts_and_a_job_needs_no_more():
    result = await injected(pod(owners=[JOB], init=[{"name": "migrate", "image": "registry.example.com/m:1"}]),
                            server=(1, 29))
    assert [c["name"] for c in result["spec"]["containers"]] == ["app"]
    sidecar, migrate = result["spec"]["initContainers"]
    assert sidecar["name"] == "cifer-proxy" and migrate["name"] == "migrate"  # up before the other init containers
    assert sidecar["restartPolicy"] == "Always" and "lifecycle" not in sidecar
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/v1/health", "port": 15080}
    assert sidecar["startupProbe"]["periodSeconds"] == 1
    assert "CIFER_SHUTDOWN_URL" not in env_of(result["spec"]["containers"][0])  # the kubelet stops it
    record = json.loads(result["metadata"]["annotations"]["cifer.io/injected"])
    assert record["mode"] == "native"


async def test_native_mode_without_init_containers_adds_the_list():
    result = await injected(pod(), server=(1, 30))
    assert [c["name"] for c in result["spec"]["initContainers"]] == ["cifer-proxy"]


async def test_the_annotation_and_the_setting_force_a_mode():
    assert "initContainers" not in (await injected(pod(mode="classic"), server=(1, 30)))["spec"]
    assert (await injected(pod(mode="native"), server=(1, 20)))["spec"]["initContainers"][0]["name"] == "cifer-proxy"
    forced = dataclasses.replace(SETTINGS, sidecar_mode="native")
    assert (await injected(pod(), server=None, settings=forced))["spec"]["initContainers"]
    with pytest.raises(Refusal, match="cifer.io/sidecar-mode"):
        await patch(pod(mode="sidecar"), "shop", BY_POD, SETTINGS, no_names, (1, 30))
