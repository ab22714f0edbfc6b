"""Running the operator: kopf's settings, the handlers, the clients, one event loop.

kopf keeps its own bookkeeping (handler progress, the last handled spec) in annotations under
`operator.cifer.io/`, not `cifer.io/`: kopf ignores every annotation of its storage prefix when
it compares specs, and `cifer.io/rotate` must count as a change.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

import kopf

from cifer_operator import ciferkeys, ciferwebhooks
from cifer_operator.certs import self_signed
from cifer_operator.context import Context
from cifer_operator.keyservice import connect
from cifer_operator.kube import Kube, load_config
from cifer_operator.settings import OperatorSettings, WebhookServerSettings

STORAGE_PREFIX = "operator.cifer.io"
FINALIZER = "cifer.io/finalizer"
log = logging.getLogger("cifer.operator")


def webhook_server(config: WebhookServerSettings) -> kopf.WebhookServer:
    host = config.host or config.addr
    certfile, pkeyfile, cafile = config.certfile, config.pkeyfile, config.cafile
    if certfile is None:
        certfile, pkeyfile = self_signed(Path(tempfile.mkdtemp(prefix="cifer-operator-tls-")),
                                         [host, *([config.addr] if config.addr not in ("0.0.0.0", "::") else [])])
        cafile = certfile
    return kopf.WebhookServer(addr=config.addr, port=config.port, host=host, certfile=str(certfile),
                              pkeyfile=str(pkeyfile), cafile=str(cafile or certfile))


def configure(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    kopf_settings.persistence.finalizer = FINALIZER
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=STORAGE_PREFIX)
    kopf_settings.posting.level = logging.WARNING  # kopf's own Events only for failures; ours are kopf.event()
    if settings.peering:
        kopf_settings.peering.name = settings.peering
        kopf_settings.peering.mandatory = True  # no peering object: refuse to run rather than risk two actors
        kopf_settings.peering.clusterwide = True
        kopf_settings.peering.priority = settings.priority
        kopf_settings.peering.lifetime = settings.peering_lifetime_s
    else:
        kopf_settings.peering.standalone = True
    if settings.webhook is not None:
        kopf_settings.admission.server = webhook_server(settings.webhook)
        kopf_settings.admission.managed = settings.webhook.managed


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: Context, **_: Any) -> None:
    configure(settings, memo.settings)


async def run(settings: OperatorSettings) -> None:
    ciferkeys.register_timers(settings.status_refresh_s)
    ciferwebhooks.register_timers(settings.status_refresh_s)
    context = Context(settings=settings, keyservice=connect(settings), kube=Kube(load_config()))
    try:
        await kopf.operator(
            clusterwide=not settings.namespaces, namespaces=settings.namespaces,
            standalone=settings.peering is None, peering_name=settings.peering, priority=settings.priority,
            liveness_endpoint=settings.liveness_endpoint, memo=context,
        )
    finally:
        await context.keyservice.close()


def main(settings: OperatorSettings, *, verbose: bool = False) -> None:
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    asyncio.run(run(settings))
