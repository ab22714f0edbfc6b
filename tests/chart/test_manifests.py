"""What scripts/render-manifests generates is up to date, and the example Deployment is sound.

One source for each generated file: the CRDs are written in manifests/ (manifests/crds/ and
kopf's manifests/peering.yaml) and copied into charts/cifer/crds/; manifests/install.yaml is the
chart rendered. `scripts/render-manifests` makes both; these tests fail when someone forgot.
"""

from __future__ import annotations

import subprocess

import kubernetes_validate

from kube.control_plane import REPO_ROOT
from kube.tools import helm_path

from .helm import CHART, helm_env, parse

RENDER_SCRIPT = REPO_ROOT / "scripts" / "render-manifests"
EXAMPLE = REPO_ROOT / "manifests" / "examples" / "deployment.yaml"
MANIFESTS = REPO_ROOT / "manifests"
CRD_COPIES = {
    MANIFESTS / "crds" / "cifer.io_ciferkeys.yaml": CHART / "crds" / "cifer.io_ciferkeys.yaml",
    MANIFESTS / "crds" / "cifer.io_ciferwebhooks.yaml": CHART / "crds" / "cifer.io_ciferwebhooks.yaml",
    MANIFESTS / "peering.yaml": CHART / "crds" / "kopf.dev_peerings.yaml",
}


def test_the_chart_crds_are_byte_for_byte_the_manifests() -> None:
    assert sorted((CHART / "crds").iterdir()) == sorted(CRD_COPIES.values())
    assert sorted((MANIFESTS / "crds").glob("*.yaml")) == sorted(
        source for source in CRD_COPIES if source.parent.name == "crds"
    )
    stale = [
        str(copy.relative_to(REPO_ROOT))
        for source, copy in CRD_COPIES.items()
        if copy.read_bytes() != source.read_bytes()
    ]
    assert stale == [], "the chart's CRDs differ from manifests/: run scripts/render-manifests"


def test_install_yaml_is_the_chart_rendered_now() -> None:
    done = subprocess.run(
        [str(RENDER_SCRIPT), "--check"],
        env={**helm_env(), "CIFER_HELM": helm_path()},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{done.stderr.strip()}\nrun scripts/render-manifests and commit the result"


def test_the_example_deployment_asks_for_the_sidecar_and_calls_it() -> None:
    objects = parse(EXAMPLE.read_text())
    for obj in objects:
        kubernetes_validate.validate(obj, "1.25.0", strict=True)
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "cifer.io/inject": "true",
        "cifer.io/cifer-keys": "payments",
    }
    (app,) = template["spec"]["containers"]
    assert "$CIFER_PROXY_URL/v1/encrypt" in app["command"][-1]
    # Applied with `-n NAMESPACE`: no namespace of its own.
    assert all("namespace" not in obj["metadata"] for obj in objects)
