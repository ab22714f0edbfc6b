"""Typed application state of the key service (aiohttp AppKeys), declared once."""

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from cifer_keyservice.audit import AuditLog
from cifer_keyservice.audit_retention import AuditRetention
from cifer_keyservice.chain_watch import ChainWatch
from cifer_keyservice.cifers import CiferService
from cifer_keyservice.decap import DecapService
from cifer_keyservice.reports.files import ReportFiles
from cifer_keyservice.scheduler import RotationScheduler
from cifer_keyservice.security_alerts import SecurityAlerts
from cifer_keyservice.security_config import SecurityConfigStore
from cifer_keyservice.security_health import SecurityHealth
from cifer_keyservice.settings import KeyServiceSettings
from cifer_keyservice.usage import UsageService
from cifer_keyservice.webhooks.delivery import Dispatcher
from cifer_keyservice.webhooks.service import WebhookService

SETTINGS = web.AppKey("settings", KeyServiceSettings)
SESSIONS = web.AppKey("sessions", async_sessionmaker)  # for read-only queries (the audit query)
CIFERS = web.AppKey("cifers", CiferService)
DECAP = web.AppKey("decap", DecapService)
SCHEDULER = web.AppKey("scheduler", RotationScheduler)
WEBHOOKS = web.AppKey("webhooks", WebhookService)
WEBHOOK_DISPATCHER = web.AppKey("webhook_dispatcher", Dispatcher)
USAGE = web.AppKey("usage", UsageService)
AUDIT_LOG = web.AppKey("audit_log", AuditLog)
ALERTS = web.AppKey("alerts", SecurityAlerts)
SECURITY_CONFIG = web.AppKey("security_config", SecurityConfigStore)
REPORT_FILES = web.AppKey("report_files", ReportFiles)
AUDIT_RETENTION = web.AppKey("audit_retention", AuditRetention)
HEALTH = web.AppKey("security_health", SecurityHealth)
CHAIN_WATCH = web.AppKey("chain_watch", ChainWatch)
