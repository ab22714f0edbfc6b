"""What every handler needs from a request: the caller and its identifiers."""

from aiohttp import web

from cifer.api.response import REQUEST_ID
from cifer_keyservice.auth.principal import PRINCIPAL
from cifer_keyservice.cifers import Caller


def caller(request: web.Request) -> Caller:
    return Caller(principal=request[PRINCIPAL], request_id=request[REQUEST_ID], source=request.remote or "")
