"""CiferKey: a key in the key service, declared with `kubectl apply`.

One reconciling handler runs on create, on every change and when the operator (re)starts: it
compares the resource with the key service and does only what is missing, so a replay, a
restart or an edit made while the operator was down all converge to the same state. Each
key-service request carries an idempotency key made of the resource's uid and what it asks, so
a request done just before a crash is answered again, not repeated (no duplicate keys).

Rotation requests: the annotation `cifer.io/rotate: "<anything new>"` or a new
`spec.rotation.requestedAt`; the values last honoured are kept in `status.handledRotation`.
Scheduled rotations happen in the key service (`policy.autoRotateDays`); a timer brings the
status (and the public-key ConfigMap) up to date with them.
"""

from __future__ import annotations

import base64
import textwrap
from typing import Any

import kopf

from cifer.api.timestamps import iso
from cifer.sdk.errors import CiferError, CiferRevokedError
from cifer_operator.conditions import Conditions
from cifer_operator.context import Context
from cifer_operator.keyservice import Refused, call, failed, idempotency_key
from cifer_operator.settings import GROUP, VERSION

PLURAL = "ciferkeys"
ROTATE_ANNOTATION = "cifer.io/rotate"
DELETION_POLICY_ANNOTATION = "cifer.io/deletion-policy"
PUBLIC_KEY_CONFIGMAP_SUFFIX = "-cifer-public-key"
RESOURCE_METADATA = ("cifer.io/namespace", "cifer.io/name")  # stamped on every cifer the operator makes


def principals(access: dict[str, Any]) -> list[str]:
    """`spec.access` as the key service's `allowed_principals`."""
    accounts = [f"system:serviceaccount:{sa['namespace']}:{sa['name']}" for sa in access.get("serviceAccounts") or ()]
    return [*accounts, *(access.get("apiKeyOwners") or ())]


# spec.policy.rateLimits (the CRD's camelCase) -> the key service's policy.rate_limits categories.
RATE_LIMIT_CATEGORIES = {"decrypt": "decrypt", "workloadDecrypt": "workload_decrypt"}


def policy(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec.policy` and `spec.access` as the key service's `policy`, whole: an update replaces
    the policy, so a field removed from the spec (a rate limit, say) is removed from the key."""
    wanted = spec.get("policy") or {}
    out: dict[str, Any] = {
        "auto_rotate_days": int(wanted.get("autoRotateDays") or 0),
        "allowed_principals": principals(spec.get("access") or {}),
        "re_encryption_window_days": int(wanted.get("reEncryptionWindowDays", 30)),
    }
    if "allowedOperations" in wanted:
        out["allowed_operations"] = list(wanted["allowedOperations"])
    limits = {RATE_LIMIT_CATEGORIES[name]: value for name, value in (wanted.get("rateLimits") or {}).items()
              if name in RATE_LIMIT_CATEGORIES}
    if limits:
        out["rate_limits"] = limits
    return out


def described(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Name, description and metadata of the cifer for this resource."""
    metadata = dict(spec.get("metadata") or {})
    metadata.update(zip(RESOURCE_METADATA, (namespace, name), strict=True))
    return {"name": (spec.get("displayName") or f"{namespace}/{name}")[:255],
            "description": spec.get("description") or "", "metadata": metadata}


def rotation_requests(meta: dict[str, Any], spec: dict[str, Any]) -> dict[str, str]:
    """The rotation requests on the resource now, absent ones left out (never empty strings)."""
    requests = {"annotation": (meta.get("annotations") or {}).get(ROTATE_ANNOTATION),
                "requestedAt": (spec.get("rotation") or {}).get("requestedAt")}
    return {key: value for key, value in requests.items() if value}


def note(body: kopf.Body, reason: str, message: str) -> None:
    """A Normal Event on the resource (kopf.info would be held back by the posting level)."""
    kopf.event(body, type="Normal", reason=reason, message=message)


def configmap_name(name: str) -> str:
    return name + PUBLIC_KEY_CONFIGMAP_SUFFIX


def pem(spki_b64: str) -> str:
    """SubjectPublicKeyInfo in PEM, for tools that read keys from files."""
    lines = textwrap.wrap(spki_b64, 64)
    return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----", ""])


@kopf.on.validate(GROUP, VERSION, PLURAL, operations=["UPDATE"], id="ciferkey-immutable")
def refuse_impossible_changes(old: dict[str, Any], new: dict[str, Any], **_: Any) -> None:
    """Rules across time that a schema cannot state: a revocation is final, the algorithm fixed."""
    before, after = old.get("spec") or {}, new.get("spec") or {}
    if before.get("revoked") and not after.get("revoked"):
        raise kopf.AdmissionError("spec.revoked: a revoked CiferKey cannot be restored; create a new CiferKey",
                                  code=422)
    if before.get("algorithm", "ML-KEM-768") != after.get("algorithm", "ML-KEM-768"):
        raise kopf.AdmissionError("spec.algorithm: the algorithm of a CiferKey cannot change; create a new "
                                  "CiferKey and re-encrypt", code=422)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def reconcile(body: kopf.Body, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, name: str,
                    namespace: str, uid: str, patch: kopf.Patch, memo: Context, retry: int, **_: Any) -> None:
    conditions = Conditions(status.get("conditions"), meta.get("generation"))
    try:
        await _reconcile(Resource(body, patch, conditions, memo, retry), dict(spec), dict(status), dict(meta),
                         name, namespace, uid)
    except Refused as refused:
        conditions.set("Degraded", True, "KeyServiceRefused", refused.message)
        raise failed(body, patch, conditions, refused, meta.get("generation")) from None
    except kopf.TemporaryError as error:
        patch.status["conditions"] = conditions.set("Degraded", True, "KeyServiceUnavailable", str(error)).items
        if not status.get("phase"):
            patch.status["phase"] = "Pending"
        raise


class Resource:
    """One handler run on one CiferKey: what it writes back (status patch, Events) and its tools."""

    def __init__(self, body: kopf.Body, patch: kopf.Patch, conditions: Conditions, ctx: Context, retry: int) -> None:
        self.body, self.patch, self.conditions, self.ctx, self.retry = body, patch, conditions, ctx, retry

    async def call(self, awaitable):
        return await call(awaitable, self.ctx.settings, self.retry)


async def _reconcile(res: Resource, spec: dict[str, Any], status: dict[str, Any], meta: dict[str, Any],
                     name: str, namespace: str, uid: str) -> None:
    client, generation = res.ctx.keyservice, meta.get("generation")
    cifer_id = status.get("ciferId")
    requests = rotation_requests(meta, spec)
    handled = dict(status.get("handledRotation") or {})
    fresh = not cifer_id
    if fresh:  # requests already on a new resource are not rotations
        created = await res.call(client.cifers.create(
            **described(name, namespace, spec), policy=policy(spec), algorithm=spec.get("algorithm"),
            idempotency_key=idempotency_key(uid, "create")))
        cifer_id = created.id
        handled = requests
        res.patch.status.update(ciferId=cifer_id, algorithm=created.key_algorithm, handledRotation=handled)
        note(res.body, "Created", f"key {cifer_id} ({created.key_algorithm}) created")

    if spec.get("revoked") or status.get("phase") == "Revoked":
        await _revoked(res, spec, status, cifer_id, namespace, name, generation)
        return

    if not fresh and status.get("observedGeneration") != generation:
        await res.call(client.cifers.update(cifer_id, **described(name, namespace, spec), policy=policy(spec)))

    if not fresh and requests != handled:
        if any(value != handled.get(key) for key, value in requests.items()):  # a new request, not a removal
            window = (spec.get("policy") or {}).get("reEncryptionWindowDays")
            res.patch.status["phase"] = "Rotating"  # stays so while the key service cannot be reached
            rotation = await res.call(client.cifers.rotate(
                cifer_id, window, reason="CiferKey rotation request",
                idempotency_key=idempotency_key(uid, "rotate", requests.get("annotation", ""),
                                                requests.get("requestedAt", ""))))
            res.conditions.set("Rotated", True, "RotationRequested",
                               f"key version {rotation.old_key_version} -> {rotation.new_key_version}")
            note(res.body, "Rotated", f"key {cifer_id} rotated to version {rotation.new_key_version}; version "
                                      f"{rotation.old_key_version} decrypts until {iso(rotation.re_encryption_deadline)}")
        res.patch.status["handledRotation"] = requests

    await publish(res, cifer_id, status, namespace, name)
    res.patch.status.update(phase="Active", observedGeneration=generation, conditions=res.conditions
                            .set("Ready", True, "KeyActive", f"key {cifer_id} is active")
                            .set("Degraded", False, "KeyServiceReachable", "the key service answered").items)


async def _revoked(res: Resource, spec: dict[str, Any], status: dict[str, Any], cifer_id: str, namespace: str,
                   name: str, generation: int | None) -> None:
    if status.get("phase") != "Revoked":
        await revoke(res.ctx, cifer_id, res.retry)
        await res.ctx.kube.delete_configmap(namespace, configmap_name(name))
        note(res.body, "Revoked", f"key {cifer_id} revoked; what it sealed can no longer be opened")
    message = f"key {cifer_id} is revoked"
    if not spec.get("revoked"):
        message += "; a revocation is final, spec.revoked cannot be set back to false"
    res.patch.status.update(phase="Revoked", observedGeneration=generation, conditions=res.conditions
                            .set("Ready", False, "Revoked", message).items)


async def revoke(ctx: Context, cifer_id: str, retry: int) -> None:
    """Revoke the key; one that is revoked or gone already is fine."""
    try:
        await call(ctx.keyservice.cifers.revoke(cifer_id), ctx.settings, retry)
    except Refused as refused:
        if refused.code not in ("CIFER_REVOKED", "NOT_FOUND"):
            raise


async def publish(res: Resource, cifer_id: str, status: dict[str, Any], namespace: str, name: str) -> None:
    """The key service's current public key into the status and the public-key ConfigMap.

    Read with GET /v1/cifers/{id} (authenticated; the operator is not rate-limited there) rather
    than the public, per-address-limited GET /v1/keys/{id}."""
    cifer = await res.call(res.ctx.keyservice.cifers.get(cifer_id))
    if cifer.status != "active" or cifer.encapsulation_key is None:
        raise Refused(CiferRevokedError(f"key {cifer_id} is revoked in the key service", code="CIFER_REVOKED"))
    public_key = base64.b64encode(cifer.encapsulation_key).decode()
    if cifer.key_version != status.get("keyVersion") or public_key != status.get("publicKey"):
        await res.ctx.kube.put_configmap(namespace, configmap_name(name), {
            "ciferId": cifer_id, "keyVersion": str(cifer.key_version), "algorithm": cifer.key_algorithm or "",
            "publicKey": public_key, "publicKey.pem": pem(public_key),
        }, labels={"app.kubernetes.io/managed-by": "cifer-operator", "cifer.io/ciferkey": name}, owner=res.body)
    res.patch.status.update(keyVersion=cifer.key_version, publicKey=public_key, algorithm=cifer.key_algorithm,
                            validUntil=iso(cifer.next_rotation_at), nextRotationAt=iso(cifer.next_rotation_at),
                            publicKeyConfigMap=configmap_name(name),
                            lastRotatedAt=iso(cifer.key_created_at) if (cifer.key_version or 1) > 1 else None)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def release(body: kopf.Body, status: kopf.Status, meta: kopf.Meta, memo: Context, retry: int,
                  **_: Any) -> None:
    """The finalizer: revoke the key, unless annotated `cifer.io/deletion-policy: retain`."""
    cifer_id = status.get("ciferId")
    if not cifer_id:
        return
    if (meta.get("annotations") or {}).get(DELETION_POLICY_ANNOTATION) == "retain":
        note(body, "Retained", f"key {cifer_id} kept in the key service (deletion-policy retain)")
        return
    try:
        await revoke(memo, cifer_id, retry)
    except Refused as refused:
        raise kopf.PermanentError(f"the key service refused to revoke {cifer_id}: {refused.code}") from None


async def refresh(body: kopf.Body, status: kopf.Status, name: str, namespace: str, patch: kopf.Patch,
                  meta: kopf.Meta, memo: Context, **_: Any) -> None:
    """A timer: follow what happened in the key service (scheduled rotations, out-of-band revocations)."""
    cifer_id = status.get("ciferId")
    if not cifer_id or status.get("phase") != "Active":
        return
    res = Resource(body, patch, Conditions(status.get("conditions"), meta.get("generation")), memo, retry=0)
    try:
        await publish(res, cifer_id, dict(status), namespace, name)
    except Refused as refused:
        if refused.code == "CIFER_REVOKED":
            patch.status.update(phase="Revoked", conditions=res.conditions
                                .set("Ready", False, "Revoked", f"key {cifer_id} was revoked in the key service").items)
            kopf.warn(body, reason="Revoked", message=f"key {cifer_id} was revoked in the key service")
        return
    except (kopf.TemporaryError, CiferError):
        return  # the next tick tries again
    if patch.status.get("keyVersion") != status.get("keyVersion"):
        patch.status["conditions"] = res.conditions.set("Rotated", True, "Scheduled",
                                                        f"key version {status.get('keyVersion')} -> "
                                                        f"{patch.status['keyVersion']}").items
        note(body, "Rotated", f"key {cifer_id} rotated to version {patch.status['keyVersion']}")


def register_timers(interval_s: float) -> None:
    kopf.timer(GROUP, VERSION, PLURAL, interval=interval_s, id="ciferkey-refresh")(refresh)
