"""Domain errors: the services raise them without HTTP, and one place gives each its seed code,
status and body."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cifer.api.errors import ErrorCode
from cifer_keyservice import errors
from cifer_keyservice.wire_errors import api_error, error_body

PACKAGE = Path(errors.__file__).parent
DOMAIN_MODULES = ["cifers.py", "decap.py", "scheduler.py", "audit.py", "audit_query.py", "records.py", "errors.py",
                  "events.py", "webhooks/service.py"]
HTTP_MODULES = {"aiohttp", "cifer.api.errors", "cifer.api.response", "cifer.api.middleware", "cifer.api.parsing"}


def _classes() -> list[type[errors.KeyServiceError]]:
    return [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.KeyServiceError)]


@pytest.mark.parametrize("error_class", _classes(), ids=lambda c: c.__name__)
def test_every_domain_error_names_a_seed_code(error_class):
    assert error_class.code in ErrorCode.__members__


def test_an_error_keeps_its_message_and_details():
    wire = api_error(errors.Forbidden("the policy of this CIFER does not allow rotate", cifer_id="cif_x", operation="rotate"))
    assert wire.code is ErrorCode.FORBIDDEN and wire.code.status == 403
    assert wire.message == "the policy of this CIFER does not allow rotate"
    assert wire.details == {"cifer_id": "cif_x", "operation": "rotate"}


def test_without_a_message_the_code_speaks():
    assert error_body(errors.NotFound(cifer_id="cif_x")) == {
        "code": "NOT_FOUND", "message": "Resource not found", "details": {"cifer_id": "cif_x"},
        "documentation_url": "https://docs.cifer.io/errors/NOT_FOUND"}


def test_an_invalid_request_names_its_field():
    wire = api_error(errors.InvalidRequest("name", "must be a string"))
    assert (wire.code, wire.message, wire.details) == (ErrorCode.INVALID_REQUEST, "name: must be a string", {"field": "name"})


def test_an_unconfirmed_revocation_names_the_header():
    wire = api_error(errors.Unconfirmed())
    assert wire.code is ErrorCode.INVALID_REQUEST
    assert wire.details == {"header": "X-Confirm-Revocation"}


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_domain_modules_know_no_http(module):
    tree = ast.parse((PACKAGE / module).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.split(".")[0] == "aiohttp"} and not imported & HTTP_MODULES
