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
