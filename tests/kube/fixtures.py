"""The session's Kubernetes API server, for every test that asks for `kube`, and the session's
node where pods run, for every test that asks for `cluster` (and is marked `cluster`).

Registered for the whole suite by `pytest_plugins = ["kube.fixtures"]` in tests/conftest.py.
With KUBECONFIG set the fixture uses that cluster; otherwise it starts etcd and kube-apiserver
on loopback (building kube-apiserver once, which takes minutes, when it is not cached yet).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kube.control_plane import ControlPlane, ControlPlaneError
from kube.node import Node

_running: list[Node] = []


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


@pytest.fixture(scope="session")
def cluster() -> Iterator[Node]:
    """A real node and its own control plane (tests/kube/node.py); tests that only need the API
    server use the faster `kube`. Tear-down fails the session if the host is left changed."""
    try:
        node = Node.launch()
    except ControlPlaneError as err:
        pytest.fail(f"no node for the tests: {err}", pytrace=False)
    _running.append(node)
    try:
        yield node
    finally:
        _running.remove(node)
        node.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that runs pods is a `cluster` test, so `pytest -m cluster` runs them alone; they run
    last, so the node (its kubelet, containerd, kube-proxy) starts only when the rest is done and
    takes no CPU from it."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("cluster"):
            raise pytest.UsageError(f"{item.nodeid} uses the node: mark it @pytest.mark.cluster")
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)  # stable: order kept within


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing cluster test shows its pods: states, logs and warning events."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _running and item.get_closest_marker("cluster"):
        report.sections.append(("pods that are not Ready", _running[0].report()))
