"""Request bodies and ids of /v1/webhooks, parsed once at the edge into the service's types;
every fault is a 400 that names the field. Bounds are `cifer.api.schemas`'."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cifer.api.parsing import invalid, refuse_unknown
from cifer.api.schemas import (
    MAX_WEBHOOK_CIFER_IDS,
    MAX_WEBHOOK_SECRET_CHARS,
    MIN_WEBHOOK_SECRET_CHARS,
    WEBHOOK_ID_RE,
)
from cifer.envelope.format import CIFER_ID_RE
from cifer.webhooks import egress
from cifer_keyservice.events import EVENT_TYPES
from cifer_keyservice.webhooks.service import CreateWebhook, UpdateWebhook

FIELDS = ("url", "events", "secret", "cifer_ids")  # of a registration or an update


def webhook_id(value: str) -> str:
    """A path's or cursor's webhook id, or 400 naming the field."""
    if not WEBHOOK_ID_RE.fullmatch(value):
        raise invalid("webhook_id", "is not a webhook id")
    return value


def _url(value: Any) -> str:
    problem = egress.receiver_url_problem(value)
    if problem is not None:
        raise invalid("url", problem)
    return value


def _events(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(e, str) and e in EVENT_TYPES for e in value):
        raise invalid("events", f"must be a non-empty list drawn from {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(value))


def _secret(value: Any) -> str:
    if not isinstance(value, str) or not MIN_WEBHOOK_SECRET_CHARS <= len(value) <= MAX_WEBHOOK_SECRET_CHARS:
        raise invalid("secret", f"must be a string of {MIN_WEBHOOK_SECRET_CHARS} to {MAX_WEBHOOK_SECRET_CHARS} characters")
    return value


def _cifer_ids(value: Any) -> tuple[str, ...] | None:
    """None (every cifer of the owner) or a list of cifer ids, kept once each in their order.
    The ids need not exist yet: a filter names what to hear about, it grants nothing."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_WEBHOOK_CIFER_IDS:
        raise invalid("cifer_ids", f"must be null or a list of at most {MAX_WEBHOOK_CIFER_IDS} cifer ids")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not CIFER_ID_RE.fullmatch(item):
            raise invalid("cifer_ids", f"item {index} is not a cifer id")
    return tuple(dict.fromkeys(value))


def create_webhook(body: Mapping[str, Any]) -> CreateWebhook:
    refuse_unknown(body, FIELDS)
    for key in ("url", "events", "secret"):
        if key not in body:
            raise invalid(key, "is required")
    return CreateWebhook(url=_url(body["url"]), events=_events(body["events"]), secret=_secret(body["secret"]),
                         cifer_ids=_cifer_ids(body.get("cifer_ids")))


def update_webhook(body: Mapping[str, Any]) -> UpdateWebhook:
    refuse_unknown(body, FIELDS)
    return UpdateWebhook(
        url=_url(body["url"]) if "url" in body else None,
        events=_events(body["events"]) if "events" in body else None,
        secret=_secret(body["secret"]) if "secret" in body else None,
        cifer_ids=_cifer_ids(body.get("cifer_ids")), sets_cifer_ids="cifer_ids" in body,
    )
