"""The SDK's error table, Retry-After reading, backoff arithmetic and lazy exports: no server."""

from __future__ import annotations

import datetime
import random
import subprocess
import sys

import pytest

import cifer
from cifer.api.errors import ErrorCode
from cifer.sdk.errors import ERROR_CLASSES, CiferError, RateLimitError, error_from_response, parse_retry_after
from cifer.sdk.retry import RetryPolicy

SEED_CODES = ("INVALID_REQUEST", "INVALID_CIFER_ID", "INVALID_CIPHERTEXT", "UNAUTHORIZED", "FORBIDDEN",
              "UNAUTHORIZED_DECRYPT", "NOT_FOUND", "CIFER_REVOKED", "RATE_LIMIT_EXCEEDED", "INTERNAL_ERROR",
              "SERVICE_UNAVAILABLE")  # seed 000 §9.1


def test_every_seed_code_has_its_own_class():
    assert set(ERROR_CLASSES) == set(SEED_CODES)
    assert len(set(ERROR_CLASSES.values())) == len(SEED_CODES)
    assert all(issubclass(cls, CiferError) for cls in ERROR_CLASSES.values())


def test_sdk_errors_are_core_errors_too():
    from cifer import exceptions

    assert issubclass(cifer.CiferError, exceptions.CoreError)


@pytest.mark.parametrize(("status", "code"), [(400, "INVALID_REQUEST"), (401, "UNAUTHORIZED"), (403, "FORBIDDEN"),
                                              (404, "NOT_FOUND"), (410, "CIFER_REVOKED"), (429, "RATE_LIMIT_EXCEEDED"),
                                              (500, "INTERNAL_ERROR"), (502, "SERVICE_UNAVAILABLE"),
                                              (503, "SERVICE_UNAVAILABLE"), (418, "HTTP_418")])
def test_without_the_seeds_body_the_status_decides(status, code):
    err = error_from_response(status, b"<html>oops</html>", {"X-Request-ID": "req_h"})
    assert (err.code, err.status, err.request_id) == (code, status, "req_h")
    assert err.message == (ErrorCode[code].default_message if code in ErrorCode.__members__ else f"HTTP {status}")


def test_the_body_code_wins_over_the_status():
    body = b'{"success": false, "error": {"code": "UNAUTHORIZED_DECRYPT", "message": "m"}, "meta": {"request_id": "r"}}'
    err = error_from_response(403, body, {})
    assert type(err).__name__ == "UnauthorizedDecryptError" and err.request_id == "r" and err.details == {}


def test_rate_limit_error_carries_retry_after_from_the_header_first():
    body = b'{"success": false, "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "m", "details": {"retry_after": 9}}}'
    assert error_from_response(429, body, {"Retry-After": "30"}).retry_after == 30
    err = error_from_response(429, body, {})
    assert isinstance(err, RateLimitError) and err.retry_after == 9


@pytest.mark.parametrize(("value", "expected"), [("30", 30.0), (" 2.5 ", 2.5), ("0", 0.0), ("-4", 0.0), ("", None),
                                                 (None, None), ("soon", None), ("nan", None),
                                                 ("Thu, 08 Jan 2026 10:31:00 GMT", 60.0)])
def test_retry_after_is_seconds_or_an_http_date(value, expected):
    now = datetime.datetime(2026, 1, 8, 10, 30, tzinfo=datetime.UTC)
    assert parse_retry_after(value, now=now) == expected


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half():
    policy = RetryPolicy(initial_backoff_s=1, max_backoff_s=8, rng=random.Random(7))
    for attempt, step in enumerate([1, 2, 4, 8, 8]):
        waits = [policy.backoff_s(attempt) for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits) and max(waits) - min(waits) > step / 4


def test_retry_after_is_a_floor_and_too_long_a_wait_is_refused():
    policy = RetryPolicy(max_retries=3, initial_backoff_s=1, max_retry_after_s=60)
    assert policy.delay_s(0, RateLimitError("m", retry_after=20)) == 20
    assert policy.delay_s(0, RateLimitError("m", retry_after=61)) is None
    assert policy.delay_s(3, RateLimitError("m", retry_after=1)) is None  # out of retries
    assert policy.delay_s(0, CiferError("m", code="NOT_FOUND")) is None


def test_importing_cifer_does_not_load_aiohttp_until_a_client_is_asked_for():
    code = ("import sys, cifer; from cifer import CiferError, verify_signature; "
            "assert 'aiohttp' not in sys.modules, 'eager'; from cifer import CiferClient; "
            "assert 'aiohttp' in sys.modules; print(CiferClient.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "cifer.sdk.sync_client"


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError):
        cifer.NoSuchThing  # noqa: B018
    assert "CiferClient" in dir(cifer)
