"""The Dockerfile, checked without a Docker engine (none runs here): the real hadolint binary
lints it, and the image it describes runs as a fixed non-root user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def test_hadolint_finds_nothing():
    venv_bin = str(Path(sys.executable).parent)  # the tests may run without the venv on PATH
    hadolint = shutil.which("hadolint", path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))
    assert hadolint, "hadolint is a dev dependency (pip install -e '.[dev]')"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_fixed_non_root_user():
    lines = [line.split() for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    users = [words[1] for words in lines if words[0] == "USER"]
    assert users == ["65532:65532"]
    assert ["ENTRYPOINT", '["cifer"]'] in lines


def _instructions() -> list[list[str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_role_the_image_names_is_a_cifer_command():
    from importlib.metadata import entry_points

    from cifer.cli import COMMAND_GROUP
    label = next(words for words in _instructions() if words[0] == "LABEL" and any("io.cifer.roles" in w for w in words))
    roles = " ".join(label).split('io.cifer.roles="', 1)[1].split('"', 1)[0].split()
    commands = {entry.name for entry in entry_points(group=COMMAND_GROUP)}
    assert {"proxy", "keyservice", "operator", "inference"} <= set(roles)
    assert set(roles) <= commands, f"roles without a command: {set(roles) - commands}"


def test_the_build_is_multi_stage_with_an_optional_softhsm_and_a_healthcheck():
    lines = _instructions()
    assert sum(1 for words in lines if words[0] == "FROM") == 2
    assert ["ARG", "WITH_SOFTHSM=false"] in lines
    softhsm = next(" ".join(words) for words in lines if words[0] == "RUN" and "softhsm2" in " ".join(words))
    assert '"${WITH_SOFTHSM}" = "true"' in softhsm  # only when asked for
    healthcheck = next(words for words in lines if words[0] == "HEALTHCHECK")
    assert "CMD" in healthcheck and "CIFER_HEALTH_URL" in " ".join(healthcheck)


def test_the_installed_version_is_the_projects():
    import tomllib
    project = tomllib.loads((DOCKERFILE.parent / "pyproject.toml").read_text())["project"]["version"]
    assert ["ARG", f"CIFER_VERSION={project}"] in _instructions()
