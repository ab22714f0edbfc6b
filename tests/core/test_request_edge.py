"""The request edge every service shares (`cifer.api.parsing`) and the seed's timestamp format."""

from __future__ import annotations

import datetime

import pytest
from aiohttp import web

from cifer.api import parsing
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.middleware import new_app
from cifer.api.timestamps import iso, unix_iso

CIFER_ID = "cif_" + "A" * 24


def test_timestamps_are_the_seeds_utc_seconds():
    moment = datetime.datetime(2026, 1, 8, 11, 30, 0, 999_999, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert iso(moment) == "2026-01-08T10:30:00Z"
    assert iso(None) is None
    assert unix_iso(0) == "1970-01-01T00:00:00Z"


def test_a_cifer_id_from_a_path_names_no_field():
    assert parsing.cifer_id(CIFER_ID) == CIFER_ID
    with pytest.raises(ApiError) as refused:
        parsing.cifer_id("cif_short")
    assert refused.value.code is ErrorCode.INVALID_CIFER_ID and refused.value.details == {"cifer_id": "cif_short"}


def test_a_cifer_id_from_a_body_or_header_names_it():
    with pytest.raises(ApiError) as refused:
        parsing.cifer_id("nope", "X-Cifer-Id")
    assert refused.value.details == {"field": "X-Cifer-Id", "cifer_id": "nope"}
    with pytest.raises(ApiError) as missing:
        parsing.cifer_id(None, "cifer_id")
    assert missing.value.code is ErrorCode.INVALID_REQUEST and missing.value.details == {"field": "cifer_id"}


@pytest.mark.parametrize("raw", ["0", "101", "x", "1.5", ""])
def test_a_page_size_out_of_range_is_a_400_naming_it(raw):
    with pytest.raises(ApiError) as refused:
        parsing.positive_int({"limit": raw}, "limit", default=20, high=100)
    assert refused.value.code is ErrorCode.INVALID_REQUEST
    assert refused.value.message == "limit: must be an integer from 1 to 100"


def test_an_absent_page_size_is_the_default():
    assert parsing.positive_int({}, "limit", default=20, high=100) == 20
    assert parsing.positive_int({"limit": "100"}, "limit", default=20, high=100) == 100


def test_integers_accept_whole_floats_but_not_booleans_or_null():
    assert parsing.integer({"d": 30.0}, "d", low=0, high=365, default=None) == 30
    assert parsing.integer({}, "d", low=0, high=365, default=7) == 7
    for value in (True, None, 366, "3"):
        with pytest.raises(ApiError):
            parsing.integer({"d": value}, "d", low=0, high=365, default=None)


def _echo_app() -> web.Application:
    app = new_app(max_body_bytes=1024)

    async def optional(request):
        first = await parsing.json_object(request)
        assert await parsing.json_object(request) is first  # parsed once per request
        return web.json_response(first)

    async def required(request):
        return web.json_response(await parsing.json_object(request, required=True))

    app.router.add_post("/optional", optional)
    app.router.add_post("/required", required)
    return app


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/required", b"", "body: is required: a JSON object"),
    ("/optional", b"{", "body: is not valid JSON"),
    ("/optional", b"[1]", "body: must be a JSON object"),
])
async def test_a_bad_body_is_a_400_naming_the_body(aiohttp_client, path, body, message):
    client = await aiohttp_client(_echo_app())
    resp = await client.post(path, data=body)
    error = (await resp.json())["error"]
    assert resp.status == 400
    assert error == {"code": "INVALID_REQUEST", "message": message, "details": {"field": "body"},
                     "documentation_url": "https://docs.cifer.io/errors/INVALID_REQUEST"}


async def test_an_empty_optional_body_is_an_empty_object(aiohttp_client):
    client = await aiohttp_client(_echo_app())
    resp = await client.post("/optional", data=b"")
    assert resp.status == 200 and await resp.json() == {}
