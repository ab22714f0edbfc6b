"""The key service's TokenReview authenticator against a real kube-apiserver (the `kube` fixture).

The reviewer authenticates as a ServiceAccount bound to `system:auth-delegator`, the least
privilege the key service gets in a cluster, so these tests also prove that binding suffices.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cifer_keyservice.auth.tokenreview import TokenReviewer, TokenReviewUnavailable
from kube.control_plane import ControlPlane

AUDIENCE = "cifer"
DELETION_DEADLINE_S = 30.0  # the API server caches a successful authentication for 10 s


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def reviewer_token(kube: ControlPlane) -> str:
    """A token of a ServiceAccount that may create TokenReviews and nothing else."""
    name = _name("cifer-token-reviewer")
    kube.create_service_account("default", name)
    kube.create_cluster_role_binding(
        name, cluster_role="system:auth-delegator", ns="default", service_account=name
    )
    return kube.create_token("default", name)  # for the API server's own audiences


@pytest.fixture
def service_account(kube: ControlPlane) -> str:
    """A fresh ServiceAccount in `default`, the workload whose tokens are reviewed."""
    name = _name("workload")
    kube.create_service_account("default", name)
    return name


@pytest.fixture
async def make_reviewer(
    kube: ControlPlane, reviewer_token: str
) -> AsyncIterator[Callable[..., TokenReviewer]]:
    made: list[TokenReviewer] = []

    def make(**overrides: object) -> TokenReviewer:
        options: dict[str, object] = {
            "api_url": kube.url,
            "reviewer_token": reviewer_token,
            "ca_file": kube.ca_file,
            "insecure_skip_tls_verify": kube.ca_file is None and kube.insecure_skip_tls_verify,
            "audience": AUDIENCE,
        }
        options.update(overrides)
        reviewer = TokenReviewer(**options)  # type: ignore[arg-type]
        made.append(reviewer)
        return reviewer

    yield make
    for reviewer in made:
        await reviewer.close()


async def test_a_cifer_token_of_a_service_account_is_accepted(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, AUDIENCE)

    assert await make_reviewer().review(token) == f"system:serviceaccount:default:{service_account}"


async def test_a_token_for_another_audience_is_refused(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, "other")

    assert await make_reviewer().review(token) is None


async def test_a_token_for_the_api_server_itself_is_refused(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, "https://kubernetes.default.svc")

    assert await make_reviewer().review(token) is None


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "", "x" * 20_000],
    ids=["word", "unsigned-jwt", "empty", "oversized"],
)
async def test_a_garbage_token_is_refused(
    garbage: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    assert await make_reviewer().review(garbage) is None


async def test_a_static_token_the_api_server_accepts_for_cifer_is_refused(
    kube: ControlPlane, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    # A static token carries no audience: a server that listed `cifer` in --api-audiences would
    # authenticate it for `cifer` too. Only ServiceAccounts may pass, whatever the server's audiences.
    if kube.admin_token is None:  # only with KUBECONFIG: the local control plane always has one
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs the local control plane, whose admin has a static token")
        pytest.skip("the external cluster's admin authenticates by client certificate")

    assert await make_reviewer().review(kube.admin_token) is None


async def test_the_token_of_a_deleted_service_account_is_refused(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, AUDIENCE)
    reviewer = make_reviewer(cache_ttl_s=0)
    assert await reviewer.review(token) is not None

    kube.delete_service_account("default", service_account)

    deadline = time.monotonic() + DELETION_DEADLINE_S
    while (username := await reviewer.review(token)) is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert username is None


async def test_an_old_token_is_refused_for_a_recreated_service_account_of_the_same_name(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, AUDIENCE)
    kube.delete_service_account("default", service_account)

    kube.create_service_account("default", service_account)  # same name, new UID

    assert await make_reviewer().review(token) is None


async def test_an_unreachable_api_server_raises_unavailable(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, AUDIENCE)
    reviewer = make_reviewer(api_url=f"https://127.0.0.1:{_closed_port()}")

    with pytest.raises(TokenReviewUnavailable):
        await reviewer.review(token)


async def test_a_reviewer_the_api_server_forbids_raises_unavailable(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    unprivileged = _name("no-rights")
    kube.create_service_account("default", unprivileged)
    reviewer = make_reviewer(reviewer_token=kube.create_token("default", unprivileged))
    token = kube.create_token("default", service_account, AUDIENCE)

    with pytest.raises(TokenReviewUnavailable, match="HTTP 403"):
        await reviewer.review(token)


async def test_the_token_is_never_logged_or_put_in_an_error(
    kube: ControlPlane,
    service_account: str,
    make_reviewer: Callable[..., TokenReviewer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = kube.create_token("default", service_account, AUDIENCE)
    reviewer = make_reviewer(api_url=f"https://127.0.0.1:{_closed_port()}")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TokenReviewUnavailable) as raised:
        await reviewer.review(token)

    assert caplog.records
    assert token not in caplog.text
    assert token not in repr(raised.value) and raised.value.__cause__ is None


async def test_a_repeated_review_is_answered_from_the_cache(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, AUDIENCE)
    reviewer = make_reviewer(cache_ttl_s=60)
    expected = f"system:serviceaccount:default:{service_account}"
    assert await reviewer.review(token) == expected

    reviewer.api_url = f"https://127.0.0.1:{_closed_port()}"  # any request now fails

    assert await reviewer.review(token) == expected


async def test_a_cached_answer_expires_after_the_ttl(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    now = [1000.0]
    token = kube.create_token("default", service_account, AUDIENCE)
    reviewer = make_reviewer(cache_ttl_s=10, clock=lambda: now[0])
    assert await reviewer.review(token) is not None
    reviewer.api_url = f"https://127.0.0.1:{_closed_port()}"

    now[0] += 10.0

    with pytest.raises(TokenReviewUnavailable):
        await reviewer.review(token)


async def test_the_cache_is_keyed_by_a_hash_never_the_token(
    kube: ControlPlane, service_account: str, make_reviewer: Callable[..., TokenReviewer]
) -> None:
    token = kube.create_token("default", service_account, AUDIENCE)
    reviewer = make_reviewer()
    await reviewer.review(token)

    assert reviewer._cache and all(token.encode() not in key for key in reviewer._cache)
    assert all(len(key) == 32 for key in reviewer._cache)


async def test_the_cache_holds_at_most_ten_thousand_answers(
    make_reviewer: Callable[..., TokenReviewer],
) -> None:
    reviewer = make_reviewer(cache_ttl_s=60)

    for i in range(10_001):
        reviewer._cache_put(i.to_bytes(32, "big"), None, 60.0)

    assert len(reviewer._cache) == 10_000
    assert (0).to_bytes(32, "big") not in reviewer._cache  # the oldest went first


async def test_in_cluster_reads_the_pods_service_account_and_service_address(
    kube: ControlPlane, service_account: str, reviewer_token: str, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(reviewer_token)
    options: dict[str, object] = {}
    if kube.ca_file:
        (tmp_path / "ca.crt").write_bytes(Path(kube.ca_file).read_bytes())
    else:
        options["insecure_skip_tls_verify"] = kube.insecure_skip_tls_verify
    host, port = kube.url.removeprefix("https://").rsplit(":", 1)
    environ = {"KUBERNETES_SERVICE_HOST": host.strip("[]"), "KUBERNETES_SERVICE_PORT": port}
    token = kube.create_token("default", service_account, AUDIENCE)

    async with TokenReviewer.in_cluster(
        service_account_dir=tmp_path, environ=environ, **options
    ) as reviewer:
        assert await reviewer.review(token) == f"system:serviceaccount:default:{service_account}"
