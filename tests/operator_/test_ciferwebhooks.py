"""CiferWebhook resources: a webhook endpoint registered in the key service from a Secret and a
CiferKey selector, receiving signed events on a real receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

from kube.tools import kubectl
from webhook_receiver import Receiver, verify_webhook

from .resources import active, apply, wait_for

EVENT_TIMEOUT_S = 30.0


async def received(receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while len(receiver.requests) < count:
        assert time.monotonic() < deadline, f"{len(receiver.requests)} deliveries, {count} awaited"
        await asyncio.sleep(0.1)


async def test_a_ciferwebhook_receives_a_signed_cifer_rotated_for_the_keys_it_selects_only(
        kube, namespace, operator):
    receiver = await Receiver().start()
    try:
        secret = "whsec_" + secrets.token_hex(20)
        kubectl(kube, "create", "secret", "generic", "hook-signing", "-n", namespace,
                f"--from-literal=signing-secret={secret}")
        apply(kube, namespace, "payments", {}, labels={"team": "payments"})
        apply(kube, namespace, "search", {}, labels={"team": "search"})
        payments = wait_for(kube, namespace, "payments", active(1), operator)["status"]["ciferId"]
        wait_for(kube, namespace, "search", active(1), operator)
        apply(kube, namespace, "payments-hook", kind="CiferWebhook", spec={
            "url": receiver.url, "events": ["cifer.rotated"],
            "secretRef": {"name": "hook-signing", "key": "signing-secret"},
            "ciferKeySelector": {"matchLabels": {"team": "payments"}}})
        hook = wait_for(kube, namespace, "payments-hook", lambda s: s.get("phase") == "Active", operator,
                        kind="ciferwebhook")["status"]
        assert hook["webhookId"].startswith("wh_") and hook["ciferIds"] == [payments]

        for name in ("search", "payments"):  # the unselected key first: its event must not arrive
            kubectl(kube, "annotate", "ciferkey", name, "-n", namespace, "cifer.io/rotate=now")
            wait_for(kube, namespace, name, active(2), operator)
        await received(receiver, 1)
        headers, payload = receiver.requests[0]
        assert verify_webhook(payload, headers["X-Cifer-Signature"], secret)  # seed §7.3's own check
        event = json.loads(payload)
        assert event["type"] == "cifer.rotated" and event["data"]["cifer_id"] == payments
        assert event["data"]["new_key_version"] == 2
        await asyncio.sleep(2)
        assert len(receiver.requests) == 1, [json.loads(body)["data"] for _, body in receiver.requests]
        status = wait_for(kube, namespace, "payments-hook", lambda s: (s.get("lastDelivery") or {}).get("outcome")
                          == "delivered", operator, kind="ciferwebhook")["status"]
        assert status["lastDelivery"]["event"] == "cifer.rotated" and status["failures"] == 0
    finally:
        await receiver.stop()


async def test_a_missing_secret_leaves_the_webhook_pending_until_the_secret_appears(kube, namespace, operator):
    receiver = await Receiver().start()
    try:
        apply(kube, namespace, "late-hook", kind="CiferWebhook", spec={
            "url": receiver.url, "events": ["cifer.created"], "secretRef": {"name": "late", "key": "secret"}})
        status = wait_for(kube, namespace, "late-hook", lambda s: s.get("phase") == "Pending", operator,
                          kind="ciferwebhook")["status"]
        assert "spec.secretRef" in {c["type"]: c for c in status["conditions"]}["Ready"]["message"]
        kubectl(kube, "create", "secret", "generic", "late", "-n", namespace,
                f"--from-literal=secret=whsec_{secrets.token_hex(20)}")
        wait_for(kube, namespace, "late-hook", lambda s: s.get("phase") == "Active", operator, kind="ciferwebhook")
    finally:
        await receiver.stop()
