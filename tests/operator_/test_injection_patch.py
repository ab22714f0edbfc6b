"""The injection patch on its own: which pods, which annotations, and the JSON patch's shape."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

import cifer
from cifer.settings import add_flags, from_arguments
from cifer.settings.sidecar import DEFAULT_TOKEN_FILE, SidecarSettings
from cifer_operator.injection import BY_NAMESPACE, BY_POD, REQUIRED, InjectorSettings, Refusal, patch

SETTINGS = InjectorSettings(image="cifer:test", keyservice_url="http://ks:8081", exclude_namespaces=frozenset({"cifer"}))


async def no_names(namespace: str) -> dict[str, str]:
    raise AssertionError("no CiferKey name to look up")


def pod(annotations=None, labels=None, env=None, volumes=None) -> dict:
    container = {"name": "app", "image": "shop"}
    if env is not None:
        container["env"] = env
    spec = {"containers": [container]}
    if volumes is not None:
        spec["volumes"] = volumes
    return {"metadata": {"annotations": annotations or {}, **({"labels": labels} if labels is not None else {})},
            "spec": spec}


async def test_a_pod_asking_by_annotation_gets_env_sidecar_volume_label_and_record_in_that_order():
    ops = await patch(pod({"cifer.io/inject": "true"}), "shop", BY_POD, SETTINGS, no_names)
    assert [(op["op"], op["path"]) for op in ops] == [
        ("add", "/spec/containers/0/env"), ("add", "/spec/containers/0"), ("add", "/spec/volumes"),
        ("add", "/metadata/labels"), ("add", "/metadata/annotations/cifer.io~1injected")]
    assert ops[0]["value"] == [{"name": "CIFER_PROXY_URL", "value": "http://localhost:8080"}]  # before the shift
    assert ops[3]["value"] == {"cifer.io/sidecar": "injected"}
    assert json.loads(ops[4]["value"]) == {"container": "cifer-proxy", "mode": "classic",
                                           "version": cifer.__version__, "image": "cifer:test"}


async def test_existing_env_volumes_and_labels_are_appended_to_and_the_label_key_is_escaped():
    ops = await patch(pod({"cifer.io/inject": "true"}, labels={"app": "shop"}, env=[{"name": "A", "value": "1"}],
                          volumes=[]), "shop", BY_POD, SETTINGS, no_names)
    paths = [op["path"] for op in ops]
    assert paths == ["/spec/containers/0/env/-", "/spec/containers/0", "/spec/volumes/-",
                     "/metadata/labels/cifer.io~1sidecar", "/metadata/annotations/cifer.io~1injected"]


async def test_an_app_that_sets_cifer_proxy_url_itself_keeps_its_value():
    ops = await patch(pod({"cifer.io/inject": "true"}, env=[{"name": "CIFER_PROXY_URL", "value": "x"}]), "shop",
                      BY_POD, SETTINGS, no_names)
    assert not any(op["path"].startswith("/spec/containers/0/env") for op in ops)


@pytest.mark.parametrize(("annotations", "mode", "namespace", "injected"), [
    ({}, BY_POD, "shop", False),
    ({"cifer.io/inject": "false"}, BY_POD, "shop", False),
    ({}, BY_NAMESPACE, "shop", True),
    ({"cifer.io/inject": "false"}, BY_NAMESPACE, "shop", False),
    ({"cifer.io/inject": "true"}, BY_POD, "cifer", False),
    ({"cifer.io/inject": "required"}, BY_POD, "shop", True),  # reads as "true"; only the label fails closed
    ({}, REQUIRED, "shop", True), ({"cifer.io/inject": "true"}, REQUIRED, "shop", True),
])
async def test_who_is_injected(annotations, mode, namespace, injected):
    assert bool(await patch(pod(annotations), namespace, mode, SETTINGS, no_names)) is injected


@pytest.mark.parametrize(("key", "value"), [
    ("cifer.io/proxy-port", "80"), ("cifer.io/proxy-port", "15080"), ("cifer.io/proxy-port", "99999"),
    ("cifer.io/proxy-memory", "1T"), ("cifer.io/proxy-cpu", "-1"), ("cifer.io/inference", "yes"),
    ("cifer.io/cifer-keys", "Not_A_Name"), ("cifer.io/grpc-port", "80"), ("cifer.io/grpc-port", "15080"),
    ("cifer.io/grpc-port", "8080"), ("cifer.io/grpc-port", "on"), ("cifer.io/grpc-port", "-1"),
])
async def test_a_bad_annotation_is_refused_by_name(key, value):
    with pytest.raises(Refusal, match=key):
        await patch(pod({"cifer.io/inject": "true", key: value}), "shop", BY_POD, SETTINGS, no_names)


async def test_the_sidecar_reads_from_its_arguments_and_environment_the_settings_it_was_injected_with(monkeypatch):
    settings = dataclasses.replace(SETTINGS, inference_url="http://inference:8000")
    keys = "cif_aaaaaaaaaaaa,cif_bbbbbbbbbbbb"
    ops = await patch(pod({"cifer.io/inject": "true", "cifer.io/proxy-port": "9090", "cifer.io/inference": "true",
                           "cifer.io/cifer-keys": keys}), "shop", BY_POD, settings, no_names)
    (sidecar,) = [op["value"] for op in ops if op["path"] == "/spec/containers/0"]
    for var in sidecar["env"]:
        monkeypatch.setenv(var["name"], var["value"])
    monkeypatch.delenv("CIFER_API_KEY", raising=False)
    parser = argparse.ArgumentParser()
    add_flags(parser, SidecarSettings)  # as `cifer proxy` does
    assert sidecar["args"][0] == "proxy"
    assert from_arguments(SidecarSettings, parser.parse_args(sidecar["args"][1:])) == SidecarSettings(
        keyservice_url="http://ks:8081", host="127.0.0.1", port=9090, grpc_port=0, health_port=settings.probe_port,
        token_file=DEFAULT_TOKEN_FILE, warm_cifer_ids=tuple(keys.split(",")), inference_url="http://inference:8000")


@pytest.mark.parametrize(("annotations", "memory"), [
    ({}, {"requests": "64Mi", "limits": "128Mi"}),
    ({"cifer.io/inference": "true"}, {"requests": "320Mi", "limits": "512Mi"}),  # TenSEAL and its keys
    ({"cifer.io/inference": "true", "cifer.io/proxy-memory": "1Gi"}, {"requests": "1Gi", "limits": "1Gi"}),
])
async def test_a_sidecar_that_serves_inference_gets_the_memory_it_needs(annotations, memory):
    settings = dataclasses.replace(SETTINGS, inference_url="https://inference:8000")
    ops = await patch(pod({"cifer.io/inject": "true", **annotations}), "shop", BY_POD, settings, no_names)
    (sidecar,) = [op["value"] for op in ops if op["path"] == "/spec/containers/0"]
    assert {kind: sidecar["resources"][kind]["memory"] for kind in ("requests", "limits")} == memory


def sidecar_and_app_env(ops: list[dict]) -> tuple[dict, list[dict]]:
    (sidecar,) = [op["value"] for op in ops if op["path"] == "/spec/containers/0"]
    return sidecar, next(op["value"] for op in ops if op["path"] == "/spec/containers/0/env")


def grpc_port_argument(sidecar: dict) -> str:
    args = sidecar["args"]
    assert args.count("--grpc-port") == 1, args
    return args[args.index("--grpc-port") + 1]


async def test_the_sidecar_serves_no_grpc_unless_asked_and_never_loads_grpcio_for_it():
    sidecar, env = sidecar_and_app_env(await patch(pod({"cifer.io/inject": "true"}), "shop", BY_POD, SETTINGS, no_names))
    assert grpc_port_argument(sidecar) == "0"  # not the sidecar's own default (9090 where grpcio is installed)
    assert [var["name"] for var in env] == ["CIFER_PROXY_URL"]


@pytest.mark.parametrize(("annotation", "chart", "port"), [
    ({"cifer.io/grpc-port": "9090"}, 0, "9090"),  # a pod asks
    ({}, 9191, "9191"),  # the chart's injection.grpcPort, for every pod
    ({"cifer.io/grpc-port": "0"}, 9191, "0"),  # a pod declines the chart's
])
async def test_a_grpc_port_from_the_annotation_or_the_chart_reaches_the_sidecar_and_the_app(annotation, chart, port):
    settings = dataclasses.replace(SETTINGS, grpc_port=chart)
    sidecar, env = sidecar_and_app_env(await patch(pod({"cifer.io/inject": "true", **annotation}), "shop", BY_POD,
                                                   settings, no_names))
    assert grpc_port_argument(sidecar) == port
    target = [var for var in env if var["name"] == "CIFER_GRPC_TARGET"]
    assert target == ([{"name": "CIFER_GRPC_TARGET", "value": f"localhost:{port}"}] if port != "0" else [])


async def test_an_app_that_sets_its_grpc_target_itself_keeps_it_and_still_gets_the_rest_url():
    ops = await patch(pod({"cifer.io/inject": "true", "cifer.io/grpc-port": "9090"},
                          env=[{"name": "CIFER_GRPC_TARGET", "value": "mine:1"}]), "shop", BY_POD, SETTINGS, no_names)
    added = [op["value"] for op in ops if op["path"] == "/spec/containers/0/env/-"]
    assert added == [{"name": "CIFER_PROXY_URL", "value": "http://localhost:8080"}]


async def test_a_pod_that_requires_the_sidecar_cannot_opt_out():
    with pytest.raises(Refusal, match="cifer.io/inject"):
        await patch(pod({"cifer.io/inject": "false"}), "shop", REQUIRED, SETTINGS, no_names)
