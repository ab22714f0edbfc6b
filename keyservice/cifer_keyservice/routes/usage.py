"""/v1/usage: a sidecar's report of its local encryptions and payload failures (usage.py)."""

from aiohttp import web

from cifer.api import response, usage
from cifer.api.endpoints import REPORT_USAGE, route
from cifer.api.parsing import invalid, json_object
from cifer_keyservice.routes.common import caller
from cifer_keyservice.state import USAGE

routes = web.RouteTableDef()


@route(routes, REPORT_USAGE)
async def report_usage(request: web.Request) -> web.Response:
    try:
        report = usage.parse(await json_object(request, required=True))
    except usage.InvalidReport as err:
        raise invalid(err.field, err.problem) from None
    counted = await request.app[USAGE].report(caller(request), report)
    return response.ok(request, {
        "report_id": counted.report_id, "duplicate": counted.duplicate, "accepted": counted.accepted,
        "unknown_cifer_ids": list(counted.unknown_cifer_ids), "refused_cifer_ids": list(counted.refused_cifer_ids)})
