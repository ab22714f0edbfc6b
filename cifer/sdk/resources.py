"""The management endpoints, grouped as the seed's SDKs group them: `client.cifers`,
`client.keys`, `client.webhooks`. Each method is one call: build the request, parse the
answer into a model."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from cifer.sdk.models import (
    Cifer, CiferPage, Delivery, PublicKey, Revocation, Rotation, Webhook, WebhookDeletion, WebhookPage,
    invalid_response,
)
from cifer.sdk.transport import Transport, path_segment


class Unchanged(enum.Enum):
    """The default of an update's argument whose None means something (`cifer_ids=None` removes a
    webhook's filter): leaving the argument out leaves the field as it is."""

    UNCHANGED = "UNCHANGED"

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = Unchanged.UNCHANGED


def _page_params(limit: int, cursor: str | None, **filters: str | None) -> dict[str, str]:
    params = {"limit": str(limit)}
    if cursor is not None:
        params["cursor"] = cursor
    params.update({name: value for name, value in filters.items() if value is not None})
    return params


def _given(**fields: Any) -> dict[str, Any]:
    """A request body of the fields that are not None (mappings copied into plain dicts)."""
    return {name: dict(value) if isinstance(value, Mapping) else value
            for name, value in fields.items() if value is not None}


class Cifers:
    """`/v1/cifers`: seed §4.1, §4.2, §4.5, §4.6 and the list."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self, name: str | None = None, *, description: str | None = None, metadata: Mapping[str, str] | None = None,
        policy: Mapping[str, Any] | None = None, algorithm: str | None = None, idempotency_key: str | None = None,
    ) -> Cifer:
        """A new CIFER. `policy` is the seed's object (`auto_rotate_days`, `allowed_operations`,
        and CIFER's `allowed_principals` and `re_encryption_window_days`); `algorithm` one of
        ML-KEM-768, ML-KEM-1024, X-Wing. `idempotency_key`: sent as X-Idempotency-Key (else a
        random one per call), so a create repeated with the same key makes one CIFER."""
        body = _given(name=name, description=description, algorithm=algorithm, metadata=metadata, policy=policy)
        data = await self._transport.call("POST", "/v1/cifers", json_body=body, idempotency_key=idempotency_key)
        return Cifer.from_api(data)

    async def get(self, cifer_id: str) -> Cifer:
        return Cifer.from_api(await self._transport.call("GET", f"/v1/cifers/{path_segment(cifer_id, 'cifer_id')}"))

    async def list(self, status: str | None = None, limit: int = 20, cursor: str | None = None) -> CiferPage:
        """One page, ordered by id; `status` is `active` or `revoked`."""
        data = await self._transport.call("GET", "/v1/cifers", params=_page_params(limit, cursor, status=status))
        return CiferPage.from_api(data)

    async def update(
        self, cifer_id: str, *, name: str | None = None, description: str | None = None,
        metadata: Mapping[str, str] | None = None, policy: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Cifer:
        """Change what is given (None: leave it); `metadata` and `policy` replace the whole map
        or policy. A new `policy["auto_rotate_days"]` moves the next rotation. Owner or admin."""
        body = _given(name=name, description=description, metadata=metadata, policy=policy)
        path = f"/v1/cifers/{path_segment(cifer_id, 'cifer_id')}"
        return Cifer.from_api(await self._transport.call("PATCH", path, json_body=body, idempotency_key=idempotency_key))

    async def rotate(self, cifer_id: str, re_encryption_window_days: int | None = None, *,
                     reason: str | None = None, idempotency_key: str | None = None) -> Rotation:
        """A new key version; the old one still decrypts for `re_encryption_window_days`
        (when None: the CIFER's `policy.re_encryption_window_days`, else the server's default)."""
        body: dict[str, Any] = {}
        if re_encryption_window_days is not None:
            body["re_encryption_window_days"] = re_encryption_window_days
        if reason is not None:
            body["reason"] = reason
        path = f"/v1/cifers/{path_segment(cifer_id, 'cifer_id')}/rotate"
        return Rotation.from_api(await self._transport.call("POST", path, json_body=body,
                                                            idempotency_key=idempotency_key))

    async def revoke(self, cifer_id: str) -> Revocation:
        """Irreversible: everything sealed to this CIFER becomes unreadable. Calling this
        method is the confirmation (it sends `X-Confirm-Revocation: true`)."""
        path = f"/v1/cifers/{path_segment(cifer_id, 'cifer_id')}"
        data = await self._transport.call("DELETE", path, headers={"X-Confirm-Revocation": "true"})
        return Revocation.from_api(data)


class Keys:
    """`/v1/keys`: seed §4.7."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get(self, cifer_id: str) -> PublicKey:
        return PublicKey.from_api(await self._transport.call("GET", f"/v1/keys/{path_segment(cifer_id, 'cifer_id')}"))


class Webhooks:
    """`/v1/webhooks`: seed §7.4 (register), plus list, read, delete and deliveries."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(self, url: str, events: Sequence[str], secret: str, *, cifer_ids: Sequence[str] | None = None,
                     idempotency_key: str | None = None) -> Webhook:
        """Register `url` for `events`; deliveries are signed with `secret` (16 to 256
        characters), which the server never shows again. `cifer_ids`: only events about these
        CIFERs (at most 1000); None: about every CIFER of the caller."""
        body: dict[str, Any] = {"url": url, "events": [*events], "secret": secret}
        if cifer_ids is not None:
            body["cifer_ids"] = _ids(cifer_ids)
        data = await self._transport.call("POST", "/v1/webhooks", json_body=body, idempotency_key=idempotency_key)
        return Webhook.from_api(data)

    async def update(
        self, webhook_id: str, *, url: str | None = None, events: Sequence[str] | None = None,
        secret: str | None = None, cifer_ids: Sequence[str] | None | Unchanged = UNCHANGED,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Change what is given: None leaves `url`, `events` and `secret` as they are;
        `cifer_ids=None` removes the filter (every CIFER again), leaving it out keeps it."""
        body: dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if events is not None:
            body["events"] = [*events]
        if secret is not None:
            body["secret"] = secret
        if cifer_ids is not UNCHANGED:
            body["cifer_ids"] = None if cifer_ids is None else _ids(cifer_ids)
        path = f"/v1/webhooks/{path_segment(webhook_id, 'webhook_id')}"
        return Webhook.from_api(await self._transport.call("PATCH", path, json_body=body,
                                                           idempotency_key=idempotency_key))

    async def list(self, limit: int = 20, cursor: str | None = None) -> WebhookPage:
        return WebhookPage.from_api(await self._transport.call("GET", "/v1/webhooks", params=_page_params(limit, cursor)))

    async def get(self, webhook_id: str) -> Webhook:
        path = f"/v1/webhooks/{path_segment(webhook_id, 'webhook_id')}"
        return Webhook.from_api(await self._transport.call("GET", path))

    async def delete(self, webhook_id: str) -> WebhookDeletion:
        path = f"/v1/webhooks/{path_segment(webhook_id, 'webhook_id')}"
        return WebhookDeletion.from_api(await self._transport.call("DELETE", path))

    async def deliveries(self, webhook_id: str, *, limit: int = 20) -> tuple[Delivery, ...]:
        """The latest deliveries to this webhook, newest first."""
        path = f"/v1/webhooks/{path_segment(webhook_id, 'webhook_id')}/deliveries"
        data = await self._transport.call("GET", path, params={"limit": str(limit)})
        items = data.get("deliveries")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise invalid_response("deliveries is not a list of objects")
        return tuple(Delivery.from_api(item) for item in items)


def _ids(cifer_ids: Sequence[str]) -> list[str]:
    """A list of ids; a lone string is refused, not sent as its characters."""
    if isinstance(cifer_ids, str):
        raise TypeError("cifer_ids must be a sequence of cifer ids, not one string")
    return [*cifer_ids]
