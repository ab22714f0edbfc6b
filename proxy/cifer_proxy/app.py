"""The sidecar's application factory; `cifer proxy`, `cifer dev` and the tests all call it.

It serves the whole CIFER API of seed 000 on loopback: encrypt and decrypt here, in the pod,
everything else passed through to the key service (routes/forward.py)."""

from __future__ import annotations

import dataclasses
import logging

from aiohttp import web

from cifer import extras
from cifer.api import health, openapi
from cifer.api.endpoints import SIDECAR
from cifer.api.metrics import REGISTRY
from cifer.api.middleware import MAX_BODY_BYTES, bounded_bodies, declared_media_types, errors, new_app, request_id
from cifer.keyrelease import SUITES, RotatingRecipientKey
from cifer_proxy.decaps import Decapsulations
from cifer_proxy.identity import Identity
from cifer_proxy.keycache import KeyViews, PublicKeys, VouchedCredentials
from cifer_proxy.keyservice import KeyServiceClient
from cifer_proxy.metrics import SidecarMetrics
from cifer_proxy.inference import PodInference
from cifer_proxy.origins import refuse_other_origins
from cifer_proxy.callbacks import Callbacks
from cifer_proxy.routes import decrypt, encrypt, forward, infer, security, security_batch, shutdown
from cifer_proxy.usage import UsageReporter, reporting_to
from cifer_proxy.encryptlimit import EncryptLimit
from cifer.settings.sidecar import DEFAULT_GRPC_PORT, SidecarSettings
from cifer_proxy.state import (CALLBACKS, CREDENTIALS, DECAPS, ENCRYPT_LIMIT, IDENTITY, INFERENCE, KEY_VIEWS, KEYSERVICE,
                               METRICS, PUBLIC_KEYS, SETTINGS, USAGE)

log = logging.getLogger("cifer.proxy")


def create_probe_app() -> web.Application:
    """The probes' listener (`health_port`): `GET /v1/health` of the sidecar alone, nothing else."""
    app = web.Application(middlewares=[request_id, errors, bounded_bodies], client_max_size=1024)
    app[MAX_BODY_BYTES] = 1024
    app[health.HEALTH_CHECKS] = {}
    app.add_routes(health.routes)
    return app


def with_grpc_port(settings: SidecarSettings) -> SidecarSettings:
    """The settings with the gRPC port in effect: as given (0: none); unset, DEFAULT_GRPC_PORT
    where the grpc extra is installed, else none (a base install serves REST alone)."""
    if settings.grpc_port is not None:
        return settings
    return dataclasses.replace(settings, grpc_port=DEFAULT_GRPC_PORT if extras.importable("grpc") else 0)


def create_app(settings: SidecarSettings) -> web.Application:
    settings = with_grpc_port(settings)
    app = new_app(max_body_bytes=settings.max_json_body_bytes,
                  inner=[declared_media_types, refuse_other_origins(settings.allowed_origins)])  # no page may use it
    app[SETTINGS] = settings
    app[METRICS] = SidecarMetrics.create(app[REGISTRY])
    app[IDENTITY] = Identity(host=settings.host, api_key=settings.api_key, token_file=settings.token_file)
    if settings.encrypt_limit_per_minute is not None:
        app[ENCRYPT_LIMIT] = EncryptLimit(settings.encrypt_limit_per_minute)

    async def keyservice_client(app: web.Application):
        client = KeyServiceClient(settings.keyservice_url, timeout_s=settings.keyservice_timeout_s,
                                  ca=settings.keyservice_ca)
        app[KEYSERVICE] = client
        app[PUBLIC_KEYS] = PublicKeys(client.public_key, ttl_s=settings.public_key_ttl_s,
                                      size=settings.public_key_cache_size, lookups=app[METRICS].public_key_lookups)
        app[CREDENTIALS] = VouchedCredentials(client.whoami, ttl_s=settings.credential_ttl_s)
        app[KEY_VIEWS] = KeyViews(ttl_s=settings.public_key_ttl_s, size=settings.public_key_cache_size)
        app[DECAPS] = Decapsulations(client, RotatingRecipientKey(SUITES[settings.recipient_suite],
                                                                  rotate_after_s=settings.recipient_rotate_s),
                                     window_s=settings.decap_batch_window_ms / 1000, max_batch=settings.decap_max_batch)
        app[USAGE] = UsageReporter(reporting_to(client), interval_s=settings.usage_report_interval_s,
                                   max_entries=settings.usage_max_entries)
        app[USAGE].start()
        app[CALLBACKS] = Callbacks(timeout_s=settings.callback_timeout_s,
                                   allow_private_networks=settings.callback_allow_private_networks)
        yield
        await app[CALLBACKS].close()  # queued batches still under way are cancelled
        await app[USAGE].close()  # the last report, while the key service is still reachable
        await app[DECAPS].close()
        await client.close()

    async def keyservice_health() -> None:
        status, _, _ = await app[KEYSERVICE].call("GET", "/v1/health")
        if status != 200:
            raise RuntimeError(f"the key service is unhealthy ({status})")

    async def warm(app: web.Application) -> None:
        for cifer_id in settings.warm_cifer_ids:
            try:
                await app[PUBLIC_KEYS].recipient(cifer_id)
            except Exception as exc:  # a key the pod cannot have yet must not keep it from starting
                log.warning("public key of %s not fetched at start: %s", cifer_id, type(exc).__name__)

    async def inference(app: web.Application):
        app[INFERENCE] = PodInference(settings.inference_url, timeout_s=settings.inference_timeout_s,
                                      ca=settings.inference_ca)
        yield
        await app[INFERENCE].close()

    app.cleanup_ctx.append(keyservice_client)
    app.cleanup_ctx.append(inference)
    if settings.grpc_port:  # grpcio is loaded only by a sidecar that serves gRPC
        extras.require("grpc", extra="grpc", feature="the gRPC API (--grpc-port)")
        from cifer_proxy.grpc_api import serve as grpc_api
        app.cleanup_ctx.append(grpc_api)
    if settings.warm_cifer_ids:
        app.on_startup.append(warm)
    app[health.HEALTH_CHECKS] = {"keyservice": keyservice_health}
    app.add_routes(health.routes)
    app.add_routes(encrypt.routes)
    app.add_routes(decrypt.routes)
    app.add_routes(infer.routes)
    app.add_routes(security.routes)
    app.add_routes(security_batch.routes)
    app.add_routes(shutdown.routes)
    app.add_routes(openapi.routes(SIDECAR))
    forward.add_routes(app)
    return app
