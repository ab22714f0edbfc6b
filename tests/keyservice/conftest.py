"""Fixtures of the tests that run `cifer keyservice serve` as a real process (keyservice.served)."""

from __future__ import annotations

import pytest
from proxy.processes import stop


@pytest.fixture
def data(tmp_path):
    """The key service's data directory (made by the first command that uses it)."""
    return tmp_path / "data"


@pytest.fixture
def services():
    """The test's started `Service`s, stopped at its end."""
    started = []
    yield started
    for service in started:
        stop(service.proc)
