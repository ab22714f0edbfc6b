"""/v1/keys/{cifer_id}: seed §4.7, the public key, for anyone who would encrypt."""

from aiohttp import web

from cifer.api import response
from cifer_keyservice import requests as parse
from cifer_keyservice.state import CIFERS

routes = web.RouteTableDef()


@routes.get("/v1/keys/{cifer_id}")
async def public_key(request: web.Request) -> web.Response:
    cifer_id = parse.cifer_id(request.match_info["cifer_id"])
    return response.ok(request, await request.app[CIFERS].public_key(cifer_id))
