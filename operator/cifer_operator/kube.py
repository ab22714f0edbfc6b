"""The operator's own Kubernetes calls beyond what kopf does for it (ConfigMaps, Secrets, lists),
through the `kubernetes` client. The client is synchronous, so each call runs in a thread; a
failed call is a `kopf.TemporaryError`, so the handler is retried."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any

import kopf
import kubernetes
from kubernetes.client.rest import ApiException

from cifer_operator.settings import GROUP, VERSION

RETRY_DELAY_S = 10.0  # a failed Kubernetes call: kopf retries the handler after this long


def load_config() -> kubernetes.client.ApiClient:
    """In a pod, its ServiceAccount; elsewhere, $KUBECONFIG's current context."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config()
    else:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


class Kube:
    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self._core = kubernetes.client.CoreV1Api(api)
        self._custom = kubernetes.client.CustomObjectsApi(api)
        self._version = kubernetes.client.VersionApi(api)

    async def server_version(self) -> dict[str, Any]:
        """The API server's `/version` (major, minor, gitVersion...)."""
        def get() -> dict[str, Any]:
            info = self._version.get_code()
            return {"major": info.major, "minor": info.minor, "gitVersion": info.git_version}
        return await self._run(get, "the API server's version")

    async def put_configmap(self, namespace: str, name: str, data: Mapping[str, str], *,
                            labels: Mapping[str, str], owner: Mapping[str, Any]) -> None:
        """Create the ConfigMap, or replace its data and labels; it is owned by `owner`."""
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": dict(data),
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)}}
        kopf.append_owner_reference(body, owner=owner)  # not kopf.adopt: that copies the owner's labels too

        def put() -> None:
            try:
                self._core.create_namespaced_config_map(namespace, body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                self._core.patch_namespaced_config_map(name, namespace, {
                    "metadata": {"labels": body["metadata"]["labels"]}, "data": body["data"]})
        await self._run(put, f"ConfigMap {namespace}/{name}")

    async def delete_configmap(self, namespace: str, name: str) -> None:
        """Delete a ConfigMap; one that is gone already is fine."""
        def delete() -> None:
            try:
                self._core.delete_namespaced_config_map(name, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        await self._run(delete, f"ConfigMap {namespace}/{name}")

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """The decoded value of one key of a Secret; None when the Secret or the key is missing."""
        def get() -> str | None:
            try:
                secret = self._core.read_namespaced_secret(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            raw = (secret.data or {}).get(key)
            if raw is None:
                return None
            try:
                return base64.b64decode(raw, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
        return await self._run(get, f"Secret {namespace}/{name}")

    async def ciferkeys(self, namespace: str, label_selector: str | None) -> list[dict[str, Any]]:
        """The CiferKeys of a namespace that match a label selector (in its string form)."""
        def get() -> list[dict[str, Any]]:
            answer = self._custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "ciferkeys", label_selector=label_selector or "")
            return answer.get("items", [])
        return await self._run(get, f"CiferKeys in {namespace}")

    @staticmethod
    async def _run(fn, what: str):
        try:
            return await asyncio.to_thread(fn)
        except ApiException as exc:
            raise kopf.TemporaryError(f"{what}: HTTP {exc.status} {exc.reason}", delay=RETRY_DELAY_S) from None
