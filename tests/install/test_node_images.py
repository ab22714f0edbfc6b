"""The node's images (scripts/build-node-images): OCI archives that `ctr images import` names as
images.json says, and a product image whose runtime configuration is the Dockerfile's (buildah
builds the Dockerfile itself; this holds the result to it). In CI, scripts/setup-test-env has built
them already, so the script only hashes its inputs here."""

from __future__ import annotations

import json
import shlex
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build-node-images"
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def images() -> Path:
    result = subprocess.run([str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.splitlines()[-1])


def _archive_json(archive: Path, member: str) -> dict:
    with tarfile.open(archive) as tar:
        return json.load(tar.extractfile(member))


def _image_config(archive: Path) -> dict:
    index = _archive_json(archive, "./index.json")
    (manifest_ref,) = index["manifests"]
    manifest = _archive_json(archive, "./blobs/sha256/" + manifest_ref["digest"].split(":", 1)[1])
    return _archive_json(archive, "./blobs/sha256/" + manifest["config"]["digest"].split(":", 1)[1])


def _final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's last stage, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from + 1:]


def _pairs(arguments: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(arguments))


def test_every_archive_is_named_for_ctr_import_as_images_json_says(images):
    listed = json.loads((images / "images.json").read_text())
    assert set(listed) == {"pause", "busybox", "cifer"}
    for entry in listed.values():
        index = _archive_json(images / entry["archive"], "./index.json")
        assert [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]] == [entry["name"]]
    assert listed["busybox"]["name"] == "localhost/busybox:1"
    assert listed["pause"]["name"].startswith("localhost/pause:")


def test_the_product_image_is_named_for_the_projects_version(images):
    import tomllib
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert json.loads((images / "images.json").read_text())["cifer"]["name"] == f"localhost/cifer:{version}"


def test_the_product_image_runs_as_the_dockerfile_says(images):
    config = _image_config(images / "cifer.oci.tar")["config"]
    stage = _final_stage()
    last = {word: arguments for word, arguments in stage}
    assert config["User"] == last["USER"]
    assert config["Entrypoint"] == json.loads(last["ENTRYPOINT"])
    assert config["Cmd"] == json.loads(last["CMD"])
    assert config["WorkingDir"] == last["WORKDIR"]
    assert set(config["ExposedPorts"]) == {f"{port}/tcp" if "/" not in port else port for port in last["EXPOSE"].split()}
    env = dict(item.split("=", 1) for item in config["Env"])
    for word, arguments in stage:
        if word == "ENV":
            assert _pairs(arguments).items() <= env.items()
        if word == "LABEL":
            assert _pairs(arguments).items() <= config["Labels"].items()
    assert "/usr/local/bin" in env["PATH"].split(":")  # where pip puts `cifer`


def test_pause_runs_as_nobody_and_busybox_starts_a_shell(images):
    pause = _image_config(images / "pause.oci.tar")["config"]
    assert (pause["Entrypoint"], pause["User"]) == (["/pause"], "65535:65535")
    busybox = _image_config(images / "busybox.oci.tar")["config"]
    assert busybox["Cmd"] == ["sh"]
