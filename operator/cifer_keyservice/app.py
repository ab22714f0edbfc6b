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

from cifer.api import health
from cifer.api.errors import ApiError, ErrorCode
from cifer.api.middleware import new_app
from cifer.keystore.config import open_kek
from cifer.keystore.store import Keystore
from cifer_keyservice import servicekeys
from cifer_keyservice.audit import AuditedSession, AuditLog
from cifer_keyservice.auth.apikeys import ApiKeyStore
from cifer_keyservice.auth.middleware import API_KEY_AUTH, TOKEN_AUTHS, Authenticator, authenticate
from cifer_keyservice.auth.principal import Principal
from cifer_keyservice.auth.tokenreview import TokenReviewer, TokenReviewUnavailable
from cifer_keyservice.cifers import CiferService
from cifer_keyservice.db import migrate
from cifer_keyservice.db.engine import create_engine, sessions
from cifer_keyservice.decap import DecapService
from cifer_keyservice.routes import cifers, decap, keys
from cifer_keyservice.settings import KeyServiceSettings, TokenReviewSettings
from cifer_keyservice.state import CIFERS, DECAP, SETTINGS

log = logging.getLogger("cifer.keyservice")


@web.middleware
async def unavailable_backends(request: web.Request, handler):
    """A database or an API server that cannot be reached is the service's outage: 503, not 500 or 401."""
    try:
        return await handler(request)
    except TokenReviewUnavailable:
        log.error("the Kubernetes API server could not review a token")
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


def serviceaccount_authenticator(reviewer: TokenReviewer, scopes: frozenset[str]) -> Authenticator:
    async def authenticate(token: str) -> Principal | None:
        username = await reviewer.review(token)
        return None if username is None else Principal(id=username, scopes=scopes, kind="serviceaccount")
    return authenticate


def create_app(settings: KeyServiceSettings, *, audit_stream: TextIO = sys.stdout) -> web.Application:
    app = new_app(max_body_bytes=settings.max_body_bytes, inner=[unavailable_backends, authenticate])
    app[SETTINGS] = settings
    checks: dict = {}
    app[health.HEALTH_CHECKS] = checks

    async def resources(app: web.Application):
        kek = open_kek(settings.kek, create=True)
        engine = create_engine(settings.database_url)
        reviewer = token_reviewer(settings.token_review) if settings.token_review else None
        try:
            await migrate.upgrade(engine)
            maker = sessions(engine, sync_session_class=AuditedSession)
            service_keys = await servicekeys.load(maker, kek)
            audit = AuditLog(service_keys[servicekeys.AUDIT], stream=audit_stream)
            keystore = Keystore(kek)
            app[API_KEY_AUTH] = ApiKeyStore(maker).principal
            app[TOKEN_AUTHS] = [serviceaccount_authenticator(reviewer, settings.serviceaccount_scopes)] if reviewer else []
            app[CIFERS] = CiferService(maker, keystore, audit,
                                       default_window_days=settings.default_re_encryption_window_days)
            app[DECAP] = DecapService(maker, keystore, audit)
            probe = os.urandom(32)

            async def database() -> None:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))

            async def keystore_check() -> None:  # an HSM call blocks: keep it off the event loop
                wrapped = await asyncio.get_running_loop().run_in_executor(None, kek.wrap, probe)
                if await asyncio.get_running_loop().run_in_executor(None, kek.unwrap, wrapped) != probe:
                    raise RuntimeError("internal error: KEK round trip mismatch")

            checks.update(database=database, keystore=keystore_check)
            yield
        finally:
            if reviewer is not None:
                await reviewer.close()
            await engine.dispose()
            kek.close()

    app.cleanup_ctx.append(resources)
    app.add_routes(health.routes)
    app.add_routes(cifers.routes)
    app.add_routes(keys.routes)
    app.add_routes(decap.routes)
    return app
