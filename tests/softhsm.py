"""A real SoftHSM2 token for the session, in a temporary directory of its own.

SoftHSM reads SOFTHSM2_CONF once, when the library is first initialised in a process, so the
variable is set before any test loads the library and stays set for the whole session.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SOFTHSM_LIBRARY_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
)


@dataclasses.dataclass(frozen=True)
class SoftHsm:
    """Where the test token lives and how to log in to it."""

    library_path: str
    token_label: str
    pin: str
    so_pin: str
    conf_path: Path
    env: dict[str, str]  # environment for subprocesses that must see the same token


def _find_softhsm_library() -> str:
    override = os.environ.get("SOFTHSM2_LIB")
    candidates = (override,) if override else SOFTHSM_LIBRARY_CANDIDATES
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return candidate
    pytest.fail(
        f"libsofthsm2.so not found (looked in {', '.join(c for c in candidates if c)}); "
        "install the `softhsm2` Debian package or set SOFTHSM2_LIB",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    library_path = _find_softhsm_library()
    root = tmp_path_factory.mktemp("softhsm")
    token_dir = root / "tokens"
    token_dir.mkdir()
    conf_path = root / "softhsm2.conf"
    conf_path.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {**os.environ, "SOFTHSM2_CONF": str(conf_path)}
    hsm = SoftHsm(
        library_path=library_path,
        token_label="cifer-test",
        pin="1234",
        so_pin="5678",
        conf_path=conf_path,
        env=env,
    )
    init = subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            hsm.token_label,
            "--pin",
            hsm.pin,
            "--so-pin",
            hsm.so_pin,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        pytest.fail(f"softhsm2-util --init-token failed: {init.stderr.strip()}", pytrace=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf_path))
        yield hsm
