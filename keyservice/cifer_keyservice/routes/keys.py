"""/v1/keys/{cifer_id}: seed §4.7, the public key, for anyone who would encrypt."""

from aiohttp import web

from cifer.api.endpoints import GET_PUBLIC_KEY, route
from cifer.api import response
from cifer.api.parsing import cifer_id as parse_cifer_id
from cifer.api.timestamps import iso
from cifer_keyservice.routes.cifers import der_base64
from cifer_keyservice.state import CIFERS

routes = web.RouteTableDef()


@route(routes, GET_PUBLIC_KEY)
async def public_key(request: web.Request) -> web.Response:
    key = await request.app[CIFERS].public_key(parse_cifer_id(request.match_info["cifer_id"]))
    return response.ok(request, {
        "cifer_id": key.cifer_id, "encapsulation_key": der_base64(key.encapsulation_key),
        "key_version": key.key_version, "algorithm": key.algorithm, "valid_until": iso(key.valid_until),
        "aead": key.aead, "expires_at": iso(key.expires_at),
    })
