"""The key service's application factory: `cifer keyservice serve`, `cifer dev` and the tests
all call it. Resources (KEK, database, service keys) open in `cleanup_ctx`, in that order,
and close in reverse; a KEK that cannot be opened stops the start (no fallback)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import TextIO

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cifer.api import health, openapi
from cifer.api.endpoints import KEYSERVICE
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.metrics import REGISTRY
from cifer.api.middleware import new_app
from cifer.keystore.config import open_kek
from cifer.keystore.store import Keystore
from cifer_keyservice import periodic, servicekeys
from cifer_keyservice.audit import AuditedSession, AuditLog
from cifer_keyservice.audit_checkpoints import CheckpointWriter
from cifer_keyservice.audit_retention import AuditRetention
from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.auth.middleware import API_KEY_AUTH, TOKEN_AUTHS, Authenticator, authenticate, authorize
from cifer_keyservice.auth.principal import Principal
from cifer_keyservice.auth.oidc import OidcUnavailable, OidcVerifier, token_issuer
from cifer_keyservice.auth.tokenreview import TokenReviewer, TokenReviewUnavailable
from cifer_keyservice.chain_watch import ChainWatch
from cifer_keyservice.cifers import CiferService
from cifer_keyservice.db import migrate
from cifer_keyservice.db.engine import create_engine, sessions
from cifer_keyservice.decap import DecapService
from cifer_keyservice.groupcommit import GroupCommit
from cifer_keyservice.idempotency import IDEMPOTENCY, IdempotencyStore, idempotent
from cifer_keyservice.kube_events import CheckpointEvents
from cifer_keyservice.ratelimit import RATE_LIMITER, RateLimiter, add_headers, limit_rate
from cifer_keyservice.metrics import MeasuredKek, ServiceMetrics
from cifer_keyservice.oauth import OAUTH, REFRESH_JWKS_S, OAuth
from cifer_keyservice.routes import audit as audit_routes
from cifer_keyservice.routes import oauth as oauth_routes
from cifer_keyservice.reports.files import ReportFiles
from cifer_keyservice.routes import (cifers, decap, keys, security_config, security_keys, security_monitoring,
                                    security_reports, usage, whoami)
from cifer_keyservice.settings import KeyServiceSettings, OidcSettings, TokenReviewSettings
from cifer_keyservice.scheduler import RotationScheduler
from cifer_keyservice.seedcache import SeedCache
from cifer_keyservice.usage import UsageService
from cifer_keyservice.security_alerts import SecurityAlerts, Thresholds
from cifer_keyservice.security_config import SecurityConfigStore
from cifer_keyservice.security_health import SecurityHealth
from cifer_keyservice.state import (ALERTS, AUDIT_LOG, AUDIT_RETENTION, CHAIN_WATCH, CIFERS, DECAP, HEALTH, REPORT_FILES,
                                   SCHEDULER, SECURITY_CONFIG, SESSIONS, SETTINGS, USAGE, WEBHOOK_DISPATCHER, WEBHOOKS)
from cifer_keyservice.webhooks import routes as webhooks
from cifer_keyservice.webhooks.delivery import Dispatcher
from cifer_keyservice.webhooks.service import WebhookService
from cifer_keyservice.wire_errors import domain_errors

log = logging.getLogger("cifer.keyservice")


@web.middleware
async def unavailable_backends(request: web.Request, handler):
    """A database, an API server or an IdP's JWKS that cannot be reached is the service's outage: 503, not 500 or 401."""
    try:
        return await handler(request)
    except TokenReviewUnavailable:
        log.error("the Kubernetes API server could not review a token")
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE) from None
    except OidcUnavailable:
        log.error("the identity provider's JWKS could not be fetched")
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE) from None
    except DBAPIError as exc:
        if not exc.connection_invalidated and not isinstance(exc.orig, (OSError, ConnectionError)):
            raise
        log.error("database unavailable: %s", type(exc.orig).__name__)
        raise ApiError(ErrorCode.SERVICE_UNAVAILABLE) from None


def token_reviewer(review: TokenReviewSettings) -> TokenReviewer:
    if review.api_url is None:
        return TokenReviewer.in_cluster(audience=review.audience)
    if review.reviewer_token_file is None:
        raise SystemExit("a TokenReview API URL needs the reviewer's token file")
    return TokenReviewer(
        api_url=review.api_url, reviewer_token=review.reviewer_token_file.read_text().strip(),
        reviewer_token_file=str(review.reviewer_token_file), ca_file=review.ca_file,
        insecure_skip_tls_verify=review.insecure_skip_tls_verify, audience=review.audience,
    )


def serviceaccount_authenticator(reviewer: TokenReviewer, scopes: frozenset[str], *,
                                 other_issuers: frozenset[str] = frozenset()) -> Authenticator:
    """The kinds of token are JWTs: one claiming another issuer it knows (read unverified, only to
    route it: the OIDC provider, CIFER's own authorization server) is checked by that issuer's
    verifier alone; the API server must never be shown it."""
    async def authenticate(token: str) -> Principal | None:
        if token_issuer(token) in other_issuers:
            return None
        username = await reviewer.review(token)
        return None if username is None else Principal(id=username, scopes=scopes, kind="serviceaccount")
    return authenticate


def oidc_verifier(oidc: OidcSettings) -> OidcVerifier:
    return OidcVerifier(
        oidc.issuer, oidc.audience, oidc.jwks_url, ca_file=oidc.ca_file, jwks_cache_ttl_s=oidc.jwks_cache_ttl_s,
        jwks_refetch_min_interval_s=oidc.jwks_refetch_min_interval_s,
    )


def create_app(settings: KeyServiceSettings, *, audit_stream: TextIO = sys.stdout) -> web.Application:
    app = new_app(max_body_bytes=settings.max_body_bytes,
                  inner=[unavailable_backends, authenticate, idempotent, limit_rate, domain_errors, authorize])
    app[SETTINGS] = settings
    app.on_response_prepare.append(add_headers)  # X-RateLimit-* on every response of a limited route
    checks: dict = {}
    app[health.HEALTH_CHECKS] = checks

    async def resources(app: web.Application):
        service_metrics = ServiceMetrics.create(app[REGISTRY])
        # Built before anything is opened: a bad URL or a missing token file leaks nothing.
        verifier = oidc_verifier(settings.oidc) if settings.oidc else None
        reviewer = token_reviewer(settings.token_review) if settings.token_review else None
        events = CheckpointEvents.in_cluster() if settings.audit_checkpoint_events else None
        kek = MeasuredKek(open_kek(settings.kek, create=True), service_metrics.hsm_seconds)
        engine = create_engine(settings.database_url)
        maker = sessions(engine, sync_session_class=AuditedSession)
        group = GroupCommit.create(engine, maker, max_items=settings.group_commit_max_items,
                                   max_wait_s=settings.group_commit_max_wait_s)  # its task starts on first use
        limiter = RateLimiter.create(settings.rate_limits, sessions(engine), redis_url=settings.redis_url,
                                     group=group)  # no I/O yet
        lookups = GroupCommit.create(engine, sessions(engine, read_only=True), read_only=True,
                                     max_items=settings.group_commit_max_items, max_wait_s=0)
        seeds = SeedCache(ttl_s=settings.seed_cache_ttl_s, size=settings.seed_cache_size)
        try:
            await migrate.upgrade(engine)
            service_keys = await servicekeys.load(maker, kek)
            audit = AuditLog(service_keys[servicekeys.AUDIT], stream=audit_stream,
                             failures=service_metrics.audit_failures)
            keystore = Keystore(kek)
            readers = sessions(engine, read_only=True)
            app[SESSIONS] = readers
            app[RATE_LIMITER] = limiter
            app[IDEMPOTENCY] = IdempotencyStore(maker, ttl_s=settings.idempotency_ttl_s)
            app[API_KEY_AUTH] = ApiKeyStore(maker, readers=readers, cache_s=settings.api_key_cache_s).principal
            app[OAUTH] = await OAuth.open(settings, maker, kek, audit)
            token_auths: list[Authenticator] = [app[OAUTH].principal]  # refuses, unasked, tokens of other issuers
            if reviewer is not None:  # never shown a token claiming the OIDC issuer or CIFER's own
                others = {app[OAUTH].issuer, *((verifier.issuer,) if verifier else ())}
                token_auths.append(serviceaccount_authenticator(reviewer, settings.serviceaccount_scopes,
                                                                other_issuers=frozenset(others)))
            if verifier is not None:  # refuses, unasked, any token not claiming its issuer
                token_auths.append(verifier.verify)
            app[TOKEN_AUTHS] = token_auths
            app[CIFERS] = CiferService(maker, keystore, audit, seeds=seeds,
                                       default_window_days=settings.default_re_encryption_window_days)
            app[DECAP] = DecapService(maker, keystore, audit, group=group, lookups=lookups, seeds=seeds,
                                      outcomes=service_metrics.decrypts)
            app[USAGE] = UsageService(maker, audit)
            app[AUDIT_LOG] = audit
            app[CHAIN_WATCH] = ChainWatch(audit, readers)
            config = SecurityConfigStore(maker, audit, max_batch=settings.max_batch_headers,
                                         cache_size=settings.seed_cache_size, cache_ttl_s=settings.seed_cache_ttl_s)
            config.on_apply(lambda applied: seeds.resize(ttl_s=applied.performance("cacheTTL"),
                                                         size=applied.performance("cacheSize")))
            config.on_apply(lambda applied: app[DECAP].set_concurrency(applied.performance("maxConcurrentOperations")))
            await config.refresh()
            app[SECURITY_CONFIG] = config
            app[REPORT_FILES] = ReportFiles(maker, service_keys[servicekeys.REPORTS])
            app[ALERTS] = SecurityAlerts(maker, audit, thresholds=Thresholds(window_s=settings.alert_window_s))
            app[SCHEDULER] = RotationScheduler(maker, app[CIFERS], audit,
                                               expiring_notice_days=settings.expiring_notice_days)
            app[WEBHOOKS] = WebhookService(maker, service_keys[servicekeys.WEBHOOKS], audit)
            app[WEBHOOK_DISPATCHER] = Dispatcher(maker, service_keys[servicekeys.WEBHOOKS],
                                                 backoff_base_s=settings.webhook_backoff_base_s,
                                                 allow_private_networks=settings.webhook_allow_private_networks)
            stop = asyncio.Event()
            background = [asyncio.create_task(app[SCHEDULER].run(stop, interval_s=settings.rotation_check_interval_s))]
            background.append(asyncio.create_task(
                app[WEBHOOK_DISPATCHER].run(stop, poll_interval_s=settings.webhook_poll_interval_s)))
            async def rotation_interval_days() -> int | None:  # read afresh: another replica may have changed it
                return (await config.refresh()).rotation_interval_days

            background.append(asyncio.create_task(app[ALERTS].run(
                stop, interval_s=settings.alert_scan_interval_s, rotation_interval_days=rotation_interval_days)))
            checkpoints = CheckpointWriter(audit, readers, stream=audit_stream, file=settings.audit_checkpoint_file,
                                           publish=events.publish if events is not None else None)
            background.append(asyncio.create_task(
                checkpoints.run(stop, interval_s=settings.audit_checkpoint_interval_s)))

            async def retention_days() -> int | None:
                return (await config.current()).retention_days

            app[AUDIT_RETENTION] = AuditRetention(maker, service_keys[servicekeys.AUDIT],
                                                  checkpoint=checkpoints.write_once, retention_days=retention_days)
            background.append(asyncio.create_task(
                app[AUDIT_RETENTION].run(stop, interval_s=settings.audit_prune_interval_s)))
            background.append(asyncio.create_task(periodic.every(  # another replica's rotation, a retired key's end
                REFRESH_JWKS_S, stop, app[OAUTH].signing.refresh, log=log, what="OAuth signing keys")))
            first_pass = asyncio.create_task(app[CHAIN_WATCH].check())  # the whole log, at once; cancelled at stop
            background.append(asyncio.create_task(periodic.every(
                settings.alert_scan_interval_s, stop, app[CHAIN_WATCH].check, log=log, what="audit chain check")))
            probe = os.urandom(32)

            async def database() -> None:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))

            async def keystore_check() -> None:  # an HSM call blocks: keep it off the event loop
                wrapped = await asyncio.get_running_loop().run_in_executor(None, kek.wrap, probe)
                if await asyncio.get_running_loop().run_in_executor(None, kek.unwrap, wrapped) != probe:
                    raise RuntimeError("internal error: KEK round trip mismatch")

            checks.update(database=database, keystore=keystore_check)
            app[HEALTH] = SecurityHealth(readers, audit, app[CHAIN_WATCH], queue_depth=lambda: group.depth,
                                         kek_check=keystore_check)
            checks.update(limiter.health_checks())
            try:
                yield
            finally:
                stop.set()
                first_pass.cancel()
                await asyncio.gather(*background)
                await asyncio.gather(first_pass, return_exceptions=True)
        finally:
            if reviewer is not None:
                await reviewer.close()
            if events is not None:
                await events.close()
            if verifier is not None:
                await verifier.close()
            await lookups.close()
            await group.close()
            await limiter.close()
            await engine.dispose()
            kek.close()

    app.cleanup_ctx.append(resources)
    app.add_routes(health.routes)
    app.add_routes(cifers.routes)
    app.add_routes(keys.routes)
    app.add_routes(security_keys.routes)
    app.add_routes(security_monitoring.routes)
    app.add_routes(security_reports.routes)
    app.add_routes(security_config.routes)
    app.add_routes(whoami.routes)
    app.add_routes(decap.routes)
    app.add_routes(usage.routes)
    app.add_routes(audit_routes.routes)
    app.add_routes(openapi.routes(KEYSERVICE))
    app.add_routes(webhooks.routes)
    app.add_routes(oauth_routes.routes)
    return app
