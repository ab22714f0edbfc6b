"""Audit checkpoints as Kubernetes Events on the key service's own pod (`audit_checkpoints`).

An Event lives in the API server's etcd, beyond the key service's database, and can be watched
and shipped elsewhere (`kubectl get events --field-selector reason=AuditCheckpoint`); its
message is the checkpoint's JSON line, so a saved copy is a file `audit verify --checkpoint`
reads. The key service talks to the API server as it does for TokenReview: the pod's own
ServiceAccount token (reread, as the kubelet rotates it) and the cluster CA; it needs RBAC
`create` on core `events` in its namespace. Events expire (an hour by default): they are a
record to ship, not an archive.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from cifer_keyservice.audit import Checkpoint
from cifer_keyservice.audit_checkpoints import to_line
from cifer_keyservice.auth.tokenreview import SERVICE_ACCOUNT_DIR
from cifer_keyservice.clock import utcnow

REASON = "AuditCheckpoint"
COMPONENT = "cifer-keyservice"


class CheckpointEventsUnavailable(Exception):
    """The API server did not take the Event (unreachable, refused, or not 2xx)."""


class CheckpointEvents:
    """Posts each checkpoint as a core/v1 Event whose involved object is this pod."""

    def __init__(self, *, api_url: str, token_file: Path, ca_file: str | None, namespace: str, pod: str,
                 timeout_s: float = 5.0) -> None:
        self._url = f"{api_url.rstrip('/')}/api/v1/namespaces/{namespace}/events"
        self._token_file = token_file
        self._ca_file = ca_file
        self._namespace = namespace
        self._pod = pod
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def in_cluster(cls, *, service_account_dir: str | Path = SERVICE_ACCOUNT_DIR,
                   environ: Mapping[str, str] | None = None) -> CheckpointEvents:
        """The pod's API server, token, CA and namespace; the pod's name from $POD_NAME (the
        downward API) or else $HOSTNAME, which a pod's hostname is unless the spec sets one."""
        env = os.environ if environ is None else environ
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
        pod = env.get("POD_NAME") or env.get("HOSTNAME")
        if not host or not port or not pod:
            raise SystemExit("--audit-checkpoint-events needs a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT, "
                             "POD_NAME or HOSTNAME)")
        sa_dir = Path(service_account_dir)
        try:
            namespace = (sa_dir / "namespace").read_text().strip()
        except OSError:
            raise SystemExit(f"--audit-checkpoint-events: no namespace file in {sa_dir}") from None
        host = f"[{host}]" if ":" in host else host
        return cls(api_url=f"https://{host}:{port}", token_file=sa_dir / "token", ca_file=str(sa_dir / "ca.crt"),
                   namespace=namespace, pod=pod)

    def event(self, point: Checkpoint) -> dict:
        now = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{self._pod}.audit-checkpoint-", "namespace": self._namespace},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": self._pod, "namespace": self._namespace},
            "reason": REASON, "type": "Normal", "message": to_line(point),
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT, "reportingInstance": self._pod,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }

    async def publish(self, point: Checkpoint) -> None:
        token = self._token_file.read_text().strip()  # once a minute at most: no cache needed
        try:
            async with self._get_session().post(self._url, json=self.event(point),
                                                headers={"Authorization": f"Bearer {token}"}) as resp:
                if not 200 <= resp.status < 300:
                    raise CheckpointEventsUnavailable(f"the API server answered HTTP {resp.status} to an Event")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CheckpointEventsUnavailable(f"the API server could not be reached ({type(exc).__name__})") from None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=self._ca_file)),
                timeout=aiohttp.ClientTimeout(total=self._timeout_s))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
