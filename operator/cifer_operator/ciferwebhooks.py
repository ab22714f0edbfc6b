"""CiferWebhook: a webhook endpoint of the key service, declared with `kubectl apply`.

The signing secret comes from a Secret in the resource's namespace (`spec.secretRef`); the keys
whose events it receives are the CiferKeys of that namespace that `spec.ciferKeySelector`
selects (all of them when there is no selector), given to the key service as its `cifer_ids`
filter. A timer keeps that list, the secret and the delivery status up to date.
"""

from __future__ import annotations

import hashlib
from typing import Any

import kopf

from cifer.api.timestamps import iso
from cifer_operator.ciferkeys import note
from cifer_operator.conditions import Conditions
from cifer_operator.context import Context
from cifer_operator.keyservice import Refused, call, failed, idempotency_key
from cifer_operator.settings import GROUP, VERSION

PLURAL = "ciferwebhooks"
DELIVERIES_LOOKED_AT = 50


def label_selector(selector: dict[str, Any] | None) -> str:
    """A LabelSelector object in the string form the API's `labelSelector` parameter takes."""
    selector = selector or {}
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            terms.append(key)
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


async def selected_cifer_ids(ctx: Context, namespace: str, spec: dict[str, Any]) -> list[str]:
    keys = await ctx.kube.ciferkeys(namespace, label_selector(spec.get("ciferKeySelector")))
    return sorted({key["status"]["ciferId"] for key in keys if (key.get("status") or {}).get("ciferId")})


async def signing_secret(ctx: Context, namespace: str, spec: dict[str, Any]) -> str:
    ref = spec["secretRef"]
    secret = await ctx.kube.secret_value(namespace, ref["name"], ref["key"])
    if secret is None:
        raise kopf.TemporaryError(f"spec.secretRef: Secret {ref['name']} has no key {ref['key']} (yet)",
                                  delay=ctx.settings.retry_delay_s)
    return secret


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def reconcile(body: kopf.Body, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, namespace: str,
                    uid: str, patch: kopf.Patch, memo: Context, retry: int, **_: Any) -> None:
    conditions = Conditions(status.get("conditions"), meta.get("generation"))
    try:
        secret = await signing_secret(memo, namespace, spec)
        cifer_ids = await selected_cifer_ids(memo, namespace, dict(spec))
        hooks, webhook_id = memo.keyservice.webhooks, status.get("webhookId")
        if webhook_id:
            await call(hooks.update(webhook_id, url=spec["url"], events=list(spec["events"]), secret=secret,
                                    cifer_ids=cifer_ids), memo.settings, retry)
        else:
            hook = await call(hooks.create(spec["url"], list(spec["events"]), secret, cifer_ids=cifer_ids,
                                           idempotency_key=idempotency_key(uid, "create")), memo.settings, retry)
            webhook_id = hook.id
            note(body, "Registered", f"webhook {webhook_id} registered for {spec['url']}")
    except Refused as refused:
        raise failed(body, patch, conditions, refused, meta.get("generation")) from None
    except kopf.TemporaryError as error:
        patch.status.update(phase=status.get("phase") or "Pending",
                            conditions=conditions.set("Ready", False, "Waiting", str(error)).items)
        raise
    memo.secret_digests[uid] = digest(secret)
    patch.status.update(webhookId=webhook_id, ciferIds=cifer_ids, phase="Active", observedGeneration=meta.get("generation"),
                        conditions=conditions.set("Ready", True, "Registered", f"webhook {webhook_id} registered").items)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def unregister(status: kopf.Status, memo: Context, uid: str, retry: int, **_: Any) -> None:
    webhook_id = status.get("webhookId")
    memo.secret_digests.pop(uid, None)
    if not webhook_id:
        return
    try:
        await call(memo.keyservice.webhooks.delete(webhook_id), memo.settings, retry)
    except Refused as refused:
        if refused.code != "NOT_FOUND":
            raise kopf.PermanentError(f"the key service refused to delete {webhook_id}: {refused.code}") from None


async def refresh(spec: kopf.Spec, status: kopf.Status, namespace: str, uid: str, patch: kopf.Patch, memo: Context,
                  **_: Any) -> None:
    """A timer: keys that came or went, a rotated signing secret, and the latest deliveries."""
    webhook_id = status.get("webhookId")
    if not webhook_id or status.get("phase") != "Active":
        return
    try:
        cifer_ids = await selected_cifer_ids(memo, namespace, dict(spec))
        secret = await signing_secret(memo, namespace, spec)
        changes: dict[str, Any] = {}
        if cifer_ids != list(status.get("ciferIds") or []):
            changes["cifer_ids"] = cifer_ids
        secret_digest = digest(secret)
        if memo.secret_digests.get(uid) != secret_digest:
            changes["secret"] = secret
        if changes:
            await call(memo.keyservice.webhooks.update(webhook_id, **changes), memo.settings, 0)
            memo.secret_digests[uid] = secret_digest
            patch.status["ciferIds"] = cifer_ids
        deliveries = await call(memo.keyservice.webhooks.deliveries(webhook_id, limit=DELIVERIES_LOOKED_AT),
                                memo.settings, 0)
    except (kopf.TemporaryError, Refused):
        return  # the next tick tries again
    if deliveries:
        latest = deliveries[0]
        when = latest.delivered_at or latest.created
        patch.status["lastDelivery"] = {"at": iso(when), "event": latest.type, "outcome": latest.status}
    patch.status["failures"] = sum(1 for delivery in deliveries if delivery.status == "failed")


def register_timers(interval_s: float) -> None:
    kopf.timer(GROUP, VERSION, PLURAL, interval=interval_s, id="ciferwebhook-refresh")(refresh)
