from __future__ import annotations

from pathlib import Path

import pytest

from sdk_typescript.node import build


@pytest.fixture(scope="session")
def ts_sdk() -> Path:
    """sdk/typescript with its dist/ built from the current sources (about 2 s)."""
    return build()
