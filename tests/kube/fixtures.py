"""The session's Kubernetes API server, for every test that asks for `kube`.

Registered for the whole suite by `pytest_plugins = ["kube.fixtures"]` in tests/conftest.py.
With KUBECONFIG set the fixture uses that cluster; otherwise it starts etcd and kube-apiserver
on loopback (building kube-apiserver once, which takes minutes, when it is not cached yet).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kube.control_plane import ControlPlane, ControlPlaneError


@pytest.fixture(scope="session")
def kube() -> Iterator[ControlPlane]:
    try:
        plane = ControlPlane.start()
    except ControlPlaneError as err:
        pytest.fail(f"no Kubernetes API server for the tests: {err}", pytrace=False)
    try:
        yield plane
    finally:
        plane.stop()
