"""Running the operator: kopf's settings, the handlers, the clients, one event loop.

kopf keeps its own bookkeeping (handler progress, the last handled spec) in annotations under
`operator.cifer.io/`, not `cifer.io/`: kopf ignores every annotation of its storage prefix when
it compares specs, and `cifer.io/rotate` must count as a change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web

from cifer_operator import admission, ciferkeys, ciferwebhooks
from cifer_operator.certs import self_signed
from cifer_operator.context import Context
from cifer_operator.keyservice import connect
from cifer_operator.kube import Kube, load_config
from cifer_operator.settings import OperatorSettings, WebhookServerSettings

STORAGE_PREFIX = "operator.cifer.io"
FINALIZER = "cifer.io/finalizer"
log = logging.getLogger("cifer.operator")


def with_certificate(config: WebhookServerSettings, directory: Path) -> WebhookServerSettings:
    """The settings with a serving certificate: the one given, else a self-signed one made now
    in `directory` (a temporary one, removed when the operator exits)."""
    if config.certfile is not None:
        return config
    host = config.host or config.addr
    certfile, pkeyfile = self_signed(directory, [host, *([config.addr] if config.addr not in ("0.0.0.0", "::") else [])])
    return dataclasses.replace(config, certfile=certfile, pkeyfile=pkeyfile, cafile=certfile)


def webhook_server(config: WebhookServerSettings) -> kopf.WebhookServer:
    return kopf.WebhookServer(addr=config.addr, port=config.port, host=config.host or config.addr,
                              certfile=str(config.certfile), pkeyfile=str(config.pkeyfile),
                              cafile=str(config.cafile or config.certfile))


def configure(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    kopf_settings.persistence.finalizer = FINALIZER
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=STORAGE_PREFIX)
    kopf_settings.posting.level = logging.WARNING  # kopf's own Events only for failures; ours are kopf.event()
    # Name, priority and standalone come from kopf.operator()'s arguments (a peering name makes
    # peering mandatory: no peering object, no acting); the peering is cluster-wide even when the
    # operator watches a few namespaces.
    kopf_settings.peering.clusterwide = True
    kopf_settings.peering.lifetime = settings.peering_lifetime_s
    kopf_settings.admission.server = webhook_server(settings.webhook)
    kopf_settings.admission.managed = settings.webhook.managed


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: Context, **_: Any) -> None:
    configure(settings, memo.settings)


async def start_injection(settings: OperatorSettings, kube: Kube) -> web.AppRunner | None:
    if settings.inject_port is None or settings.injector is None:
        return None

    async def key_names(namespace: str) -> dict[str, str]:
        keys = await kube.ciferkeys(namespace, None)
        return {key["metadata"]["name"]: key["status"]["ciferId"] for key in keys
                if (key.get("status") or {}).get("phase") == "Active"}

    return await admission.start(settings.injector, key_names, addr=settings.webhook.addr, port=settings.inject_port,
                                 certfile=str(settings.webhook.certfile), keyfile=str(settings.webhook.pkeyfile),
                                 server=admission.ServerVersion(kube.server_version))


async def run(settings: OperatorSettings) -> None:
    with tempfile.TemporaryDirectory(prefix="cifer-operator-tls-") as tls:
        await operate(dataclasses.replace(settings, webhook=with_certificate(settings.webhook, Path(tls))))


def _fingerprint(*paths: Path | None) -> bytes:
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(path.read_bytes() if path is not None else b"")
        except OSError:
            digest.update(b"unreadable")
    return digest.digest()


async def stop_when_renewed(config: WebhookServerSettings, interval_s: float, stop: asyncio.Event) -> None:
    """Both webhook servers read their certificate once; when cert-manager (or anyone) renews it,
    stop, so that the Deployment starts the operator again with the new one."""
    first = _fingerprint(config.certfile, config.pkeyfile)
    while not stop.is_set():
        await asyncio.sleep(interval_s)
        if _fingerprint(config.certfile, config.pkeyfile) != first:
            log.warning("the webhook certificate changed: stopping, to be started again with it")
            stop.set()


async def operate(settings: OperatorSettings) -> None:
    ciferkeys.register_timers(settings.status_refresh_s)
    ciferwebhooks.register_timers(settings.status_refresh_s)
    context = Context(settings=settings, keyservice=connect(settings), kube=Kube(load_config()))
    injection = await start_injection(settings, context.kube)
    stop = asyncio.Event()
    watcher = asyncio.create_task(stop_when_renewed(settings.webhook, settings.certificate_check_s, stop))
    try:
        await kopf.operator(
            clusterwide=not settings.namespaces, namespaces=settings.namespaces,
            standalone=settings.peering is None, peering_name=settings.peering, priority=settings.priority,
            liveness_endpoint=settings.liveness_endpoint, memo=context, stop_flag=stop,
        )
    finally:
        watcher.cancel()
        if injection is not None:
            await injection.cleanup()
        await context.keyservice.close()


def main(settings: OperatorSettings, *, verbose: bool = False) -> None:
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.PLAIN)
    asyncio.run(run(settings))
