"""The Go SDK (issue 20) as CI checks it: `gofmt -l` prints nothing, `go vet` is clean, the module
needs the standard library only, and `go test ./...` passes against a real `cifer dev`: the
offline tests of the client's manners and the live ones (every REST call's success and error
paths with errors.As per type, a real 429 with Retry-After, a 100 MiB stream round trip in
bounded memory, MigrateKV from an in-memory source, a real 503 from a sidecar whose key service
is down, seed 001's /api/security calls). No Go test may skip."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from ports import free_port
from proxy.processes import sidecar_process
from sdk_go.gotool import MODULE, SDK, go, go_environment, gofmt

# Every Go test the module must run and pass: a test deleted or renamed fails here.
LIVE_TESTS = {
    "TestLiveCiferLifecycle", "TestLiveCreateIsIdempotentUnderOneKey", "TestLiveErrorPathsOfEveryCall",
    *(f"TestLiveErrorPathsOfEveryCall/{code}" for code in (
        "INVALID_REQUEST", "INVALID_CIFER_ID", "INVALID_CIPHERTEXT", "UNAUTHORIZED", "FORBIDDEN",
        "UNAUTHORIZED_DECRYPT", "NOT_FOUND")),
    "TestLiveRateLimitWithRetryAfter", "TestLiveServiceUnavailableFromASidecarWithoutItsKeyService",
    "TestLiveWebhooks", "TestLiveHealthAndWhoAmI", "TestLiveEncryptDecryptWithMetadata",
    "TestLiveEndpointsMatchTheServedOpenAPIDocument", "TestLiveStream100MiBRoundTripInBoundedMemory",
    "TestLiveATamperedStreamIsAStreamError", "TestLiveMigrateKVFromAnInMemorySource",
    # Seed 001's /api/security/* calls (security_live_test.go)
    "TestLiveSecurityGenerateKeyFromTheSeedExample", "TestLiveSecurityTheSeedsEncryptExampleRoundTripsThroughDecrypt",
    "TestLiveSecurityAADMismatchIsInvalidCiphertext", "TestLiveSecurityAES256CBCIsAnInvalidRequest",
    "TestLiveSecurityFieldLevelEncryptAndDecrypt", "TestLiveSecurityABatchWithOneBadOperation",
    "TestLiveSecurityRotateAndRevokeWithTheConfirmationCode", "TestLiveSecurityErrorPaths",
}
OFFLINE_TESTS = {
    "TestEveryCodeIsItsOwnTypeUnderErrorsAs", "TestA503IsRetriedWithTheSameIdempotencyKeyAfterRetryAfter",
    "TestTheCircuitBreakerOpensAndRecovers", "TestACutOffStreamIsAStreamError", "TestAnyChangeIsRefused",
    "TestTheTimestampedSignatureVerifiesWithinTheTolerance", "TestRedirectsAreNotFollowed",
    "TestCallsReuseOneConnection", "TestATokenSourceIsAskedOnEveryAttempt",
    "TestAQuietStreamEndsAfterTheIdleTimeout",
    "TestSecurityTypesAreTheSeedsExamples", "TestSecurityCallsAsTheEndpointTableSays",
}


def test_gofmt_prints_nothing():
    done = subprocess.run([gofmt(), "-l", "."], cwd=SDK, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stdout + done.stderr


def test_go_vet_is_clean():
    done = go("vet", "./...")
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_the_module_needs_only_the_standard_library():
    go_mod = (SDK / "go.mod").read_text()
    assert go_mod.splitlines()[0] == f"module {MODULE}" and "\ngo 1.19\n" in go_mod
    assert "require" not in go_mod and "replace" not in go_mod
    deps = go("list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...")
    assert deps.returncode == 0, deps.stderr
    packages = {line.split(" [")[0] for line in deps.stdout.splitlines() if line}  # "p [p.test]": p, built for its tests
    outside = [p for p in packages if p != MODULE and not p.startswith(MODULE + "/")]
    assert outside == []


@pytest.fixture(scope="module")
def sidecar_without_keyservice() -> Iterator[str]:
    """A real `cifer proxy` whose key service is not listening: every forwarded call is a 503."""
    with sidecar_process(f"http://127.0.0.1:{free_port()}") as url:
        yield url


def test_go_test_passes_against_cifer_dev(dev_server, sidecar_without_keyservice):
    env = go_environment(dev_server.environment(), CIFER_TEST_DOWN_PROXY_URL=sidecar_without_keyservice)
    done = go("test", "-count=1", "-v", "./...", env=env, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20000:]
    assert "--- SKIP" not in output, "a Go test skipped"
    passed = set(re.findall(r"--- PASS: (\S+)", output))
    assert LIVE_TESTS | OFFLINE_TESTS <= passed, sorted((LIVE_TESTS | OFFLINE_TESTS) - passed)
    for line in output.splitlines():  # the figures the live tests log: 429s, the stream's memory
        if re.match(r"\s+live_test\.go:\d+: ", line):
            print(line.strip())
