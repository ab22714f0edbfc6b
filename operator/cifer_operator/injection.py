"""Sidecar injection: what a pod becomes when it asks for CIFER, as a JSON patch.

A pod asks with the annotation `cifer.io/inject: "true"`, or by being created in a namespace
labelled `cifer.io/injection=enabled` (then `"false"` opts out). Which of the two applies is told
by the webhook path the API server calls (two webhooks, one namespaceSelector each), so no
namespace lookup is needed. Annotations tune the sidecar, in the style of Vault's injector:

| annotation              | meaning                                               | default   |
|-------------------------|-------------------------------------------------------|-----------|
| `cifer.io/inject`       | "true" / "false"                                      | see above |
| `cifer.io/cifer-keys`   | comma-separated cifer ids or CiferKey names to warm   | none      |
| `cifer.io/proxy-port`   | the sidecar's loopback port (`CIFER_PROXY_URL`)       | 8080      |
| `cifer.io/grpc-port`    | its gRPC port (`CIFER_GRPC_TARGET`); "0": none        | `--inject-grpc-port`, 0 |
| `cifer.io/proxy-cpu`    | CPU request and limit of the sidecar (`250m`, `1`)    | 10m / 500m|
| `cifer.io/proxy-memory` | memory request and limit (`128Mi`)                    | 64Mi/128Mi, with inference 320Mi/512Mi |
| `cifer.io/inference`    | "true": the sidecar also serves `/v1/infer`           | "false"   |
| `cifer.io/sidecar-mode` | "native" or "classic" (sidecar_modes.py)              | by server version |

An injected pod is annotated `cifer.io/injected` with what was injected (JSON: the container, its
mode, CIFER's version and the image).

A pod that already has the `cifer-proxy` container is left alone. A malformed annotation is
refused with a message naming it (`Refusal`), rather than injected half-way.

The sidecar verifies the key service (and the inference service) against a CA bundle, and it
runs in the application's namespace, where the bundle's Secret is not. So the injector reads the
bundle it was given (`--inject-keyservice-ca`, by default the operator's own `--keyservice-ca`)
at each injection and puts the PEM itself into the sidecar's `$CIFER_KEYSERVICE_CA` (and
`$CIFER_INFERENCE_CA`), which the sidecar takes as inline PEM. A CA bundle is public, so an
environment variable is a fit place; no object has to be kept in every namespace, and a pod
made after a CA change gets the new bundle. A bundle that cannot be read refuses the pod rather
than inject a sidecar that could not reach the key service.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import cifer
from cifer.envelope.format import CIFER_ID_RE
from cifer.settings import setting, to_arguments, to_environment
from cifer.settings.sidecar import DEFAULT_TOKEN_FILE, SidecarSettings
from cifer.tls import is_pem
from cifer_operator import sidecar_modes as modes

CONTAINER = "cifer-proxy"
TOKEN_VOLUME = "cifer-token"
TOKEN_DIR = str(DEFAULT_TOKEN_FILE.parent)  # the projected token, mounted where the sidecar looks for it
# Passed to the sidecar in its environment rather than its arguments (`kubectl describe` shows both).
SIDECAR_ENV = ("keyservice_url", "keyservice_ca", "inference_url", "inference_ca")
INJECTED_LABEL = ("cifer.io/sidecar", "injected")  # the key service's NetworkPolicy admits these pods
INJECT, KEYS, PORT, GRPC_PORT, CPU, MEMORY, INFERENCE, SIDECAR_MODE, INJECTED = (f"cifer.io/{name}" for name in (
    "inject", "cifer-keys", "proxy-port", "grpc-port", "proxy-cpu", "proxy-memory", "inference", "sidecar-mode",
    "injected"))
# The webhook paths: /inject/namespace, /inject/pod (failurePolicy Ignore), /inject/required (Fail).
BY_NAMESPACE, BY_POD, REQUIRED = "namespace", "pod", "required"
MAX_WARM_KEYS = 32
_CPU = re.compile(r"^([0-9]{1,5}m|[0-9]{1,3}(\.[0-9]{1,3})?)$")
_MEMORY = re.compile(r"^[0-9]{1,6}(Ki|Mi|Gi)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

# Resolves CiferKey names of a namespace to their cifer ids (those not Active are absent).
KeyNames = Callable[[str], Awaitable[Mapping[str, str]]]


class Refusal(ValueError):
    """The pod's annotations cannot be honoured; the message names the annotation."""


def _mode(text: str) -> str:
    if text not in (*modes.MODES, modes.AUTO):
        raise ValueError(f"must be {', '.join((*modes.MODES, modes.AUTO))}")
    return text


@dataclasses.dataclass(frozen=True)
class InjectorSettings:
    image: str = setting("--proxy-image")
    """The image of the injected `cifer-proxy` container (the one CIFER image)."""
    keyservice_url: str = setting("--inject-keyservice-url")
    """The key service, as the sidecars reach it; `cifer operator` takes its own `--keyservice-url`
    unless told."""
    keyservice_ca: str | None = setting("--inject-keyservice-ca", default=None, metavar="FILE")
    """The CA bundle sidecars verify the key service against, read at each injection and passed
    as PEM in `$CIFER_KEYSERVICE_CA`; `cifer operator` takes its own `--keyservice-ca` unless told."""
    insecure_allow_plaintext_keyservice: bool = False
    """Sidecars accept an `http://` key service off loopback; the operator's own
    `--insecure-allow-plaintext-keyservice`, for development only."""
    inference_url: str | None = setting("--inference-url", default=None)
    """The inference service, when installed; `cifer.io/inference: "true"` is refused without it."""
    inference_ca: str | None = setting("--inference-ca", default=None, metavar="FILE")
    """The CA bundle sidecars verify the inference service against, passed as PEM in
    `$CIFER_INFERENCE_CA` as the key service's is."""
    default_port: int = 8080
    """The sidecar's loopback port unless `cifer.io/proxy-port` says otherwise (seed §10.4)."""
    grpc_port: int = setting("--inject-grpc-port", default=0)
    """The sidecar's gRPC port (seed §5, on loopback) unless `cifer.io/grpc-port` says otherwise;
    0: none (the sidecar then never loads grpcio)."""
    probe_port: int = 15080
    """The sidecar's probes' listener (all addresses, health only); apps must not use it."""
    token_expiration_s: int = 600
    """Lifetime of the projected token (audience `cifer`); the kubelet renews it at 80%."""
    cpu_request: str = "10m"
    """Vault's injector asks 250m; an idle sidecar uses about nothing, and 10m gives it a share
    under contention. The limit lets a burst of sealing run."""
    cpu_limit: str = "500m"
    memory_request: str = "64Mi"
    """The measured sidecar (tests/proxy/test_footprint.py, bench/proxy.py idle_rss_mib: about 51
    MiB after its start, an encrypt and a decrypt) plus a stated margin of at most 24 MiB."""
    memory_limit: str = "128Mi"
    inference_memory_request: str = "320Mi"
    inference_memory_limit: str = "512Mi"
    """The memory of a sidecar that also serves `/v1/infer` (`cifer.io/inference`), unless
    `cifer.io/proxy-memory` says otherwise: TenSEAL, its CKKS context and the evaluation keys
    come on top of the plain sidecar. Measured in a pod on the test node (tests/cluster), after
    one batched inference of the digits model: 266 MiB in the container's cgroup (VmHWM 293
    MiB); the plain limit, 128Mi, had the kernel kill it (OOMKilled)."""
    sidecar_mode: str = setting("--inject-sidecar-mode", default=modes.AUTO, parse=_mode, metavar="MODE")
    """Where the sidecar goes (sidecar_modes.py): `native` (an init container that restarts, Kubernetes
    1.29+), `classic` (the first container, with a start hook), or `auto`: native where the API server
    is 1.29 or newer. A pod's `cifer.io/sidecar-mode` annotation overrides it."""
    exclude_namespaces: frozenset[str] = setting("--inject-exclude-namespace", default=frozenset(), metavar="NS")
    """Never injected; `cifer operator` takes its own namespace ($POD_NAMESPACE) unless told.
    Kubernetes 1.20 has no namespace-name label to leave them out by selector."""


@dataclasses.dataclass(frozen=True)
class Options:
    port: int
    grpc_port: int
    cpu: tuple[str, str]
    memory: tuple[str, str]
    keys: tuple[str, ...]
    inference: bool
    sidecar_mode: str | None  # asked by the pod


def wants_sidecar(annotations: Mapping[str, str], mode: str) -> bool:
    """Whether the pod is to be injected, by the webhook path that asks. Under REQUIRED (a namespace
    labelled `cifer.io/injection=required`, or a pod labelled `cifer.io/inject=required`; a webhook
    that fails closed), every pod is, and none may opt out. The annotation `cifer.io/inject: required`
    reads as "true" (only a label can put a pod under the failing-closed webhook: selectors see labels)."""
    value = annotations.get(INJECT)
    if value not in (None, "true", "false", "required"):
        raise Refusal(f'{INJECT}: must be "true", "false" or "required", not {value[:64]!r}')
    if mode == REQUIRED:
        if value == "false":
            raise Refusal(f'{INJECT}: "false" where the sidecar is required (label cifer.io/inject or namespace '
                          f'label cifer.io/injection = required)')
        return True
    return value != "false" if mode == BY_NAMESPACE else value in ("true", "required")


def _boolean(annotations: Mapping[str, str], key: str) -> bool:
    value = annotations.get(key, "false")
    if value not in ("true", "false"):
        raise Refusal(f'{key}: must be "true" or "false", not {value[:64]!r}')
    return value == "true"


def options(annotations: Mapping[str, str], settings: InjectorSettings) -> Options:
    port_text = annotations.get(PORT, str(settings.default_port))
    if not port_text.isdigit() or not 1024 <= int(port_text) <= 65535 or int(port_text) == settings.probe_port:
        raise Refusal(f"{PORT}: must be a port from 1024 to 65535 other than {settings.probe_port}, "
                      f"not {port_text[:16]!r}")
    grpc_text = annotations.get(GRPC_PORT, str(settings.grpc_port))
    if grpc_text != "0" and (not grpc_text.isdigit() or not 1024 <= int(grpc_text) <= 65535
                             or int(grpc_text) in (settings.probe_port, int(port_text))):
        raise Refusal(f'{GRPC_PORT}: must be "0" or a port from 1024 to 65535 other than {settings.probe_port} '
                      f"and {PORT}, not {grpc_text[:16]!r}")
    cpu, memory = annotations.get(CPU), annotations.get(MEMORY)
    if cpu is not None and not _CPU.match(cpu):
        raise Refusal(f"{CPU}: must be a CPU quantity such as 250m or 1, not {cpu[:32]!r}")
    if memory is not None and not _MEMORY.match(memory):
        raise Refusal(f"{MEMORY}: must be a memory quantity such as 128Mi, not {memory[:32]!r}")
    keys = tuple(dict.fromkeys(k.strip() for k in annotations.get(KEYS, "").split(",") if k.strip()))
    if len(keys) > MAX_WARM_KEYS or not all(CIFER_ID_RE.fullmatch(k) or _DNS_SUBDOMAIN.match(k) for k in keys):
        raise Refusal(f"{KEYS}: must be at most {MAX_WARM_KEYS} comma-separated cifer ids or CiferKey names")
    inference = _boolean(annotations, INFERENCE)
    asked_mode = annotations.get(SIDECAR_MODE)
    if asked_mode is not None and asked_mode not in modes.MODES:
        raise Refusal(f'{SIDECAR_MODE}: must be {" or ".join(repr(m) for m in modes.MODES)}, not {asked_mode[:32]!r}')
    if inference and not settings.inference_url:
        raise Refusal(f'{INFERENCE}: no inference service is installed (the chart\'s inference.enabled)')
    default_memory = ((settings.inference_memory_request, settings.inference_memory_limit) if inference
                      else (settings.memory_request, settings.memory_limit))
    return Options(port=int(port_text), grpc_port=int(grpc_text), cpu=(cpu, cpu) if cpu else (settings.cpu_request, settings.cpu_limit),
                   memory=(memory, memory) if memory else default_memory, keys=keys, inference=inference,
                   sidecar_mode=asked_mode)


async def cifer_ids(keys: tuple[str, ...], namespace: str, key_names: KeyNames) -> list[str]:
    """Cifer ids as given; CiferKey names of the pod's namespace looked up."""
    names = [k for k in keys if not CIFER_ID_RE.fullmatch(k)]
    known = await key_names(namespace) if names else {}
    missing = [n for n in names if n not in known]
    if missing:
        raise Refusal(f"{KEYS}: no Active CiferKey named {', '.join(missing)[:200]} in namespace {namespace}")
    return [k if CIFER_ID_RE.fullmatch(k) else known[k] for k in keys]


def ca_pem(ca: str | None) -> str | None:
    """The PEM of a CA bundle given as a file (read now: a renewed bundle reaches new pods) or as
    PEM; Refusal when the file cannot be read."""
    if ca is None or is_pem(ca):
        return ca
    try:
        return Path(ca).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise Refusal(f"the injector cannot read the CA bundle {ca}: {type(exc).__name__}") from None


def sidecar_settings(settings: InjectorSettings, chosen: Options, warm: list[str]) -> SidecarSettings:
    """What the injected sidecar runs with."""
    return SidecarSettings(keyservice_url=settings.keyservice_url, keyservice_ca=ca_pem(settings.keyservice_ca),
                           insecure_allow_plaintext_keyservice=settings.insecure_allow_plaintext_keyservice,
                           host="127.0.0.1", port=chosen.port, grpc_port=chosen.grpc_port,
                           health_port=settings.probe_port, token_file=DEFAULT_TOKEN_FILE, warm_cifer_ids=tuple(warm),
                           inference_url=settings.inference_url if chosen.inference else None,
                           inference_ca=ca_pem(settings.inference_ca) if chosen.inference else None)


def _probe(settings: InjectorSettings) -> dict[str, Any]:
    return {"httpGet": {"path": "/v1/health", "port": settings.probe_port}, "timeoutSeconds": 2}


def sidecar(settings: InjectorSettings, chosen: Options, warm: list[str]) -> dict[str, Any]:
    proxy = sidecar_settings(settings, chosen, warm)
    probe = _probe(settings)
    return {
        "name": CONTAINER, "image": settings.image, "imagePullPolicy": "IfNotPresent",
        # Where it listens always, defaults or not: only on loopback does it lend its identity, and
        # only on the port of the app's CIFER_PROXY_URL will the app find it.
        "args": ["proxy", *to_arguments(proxy, always=("host", "port"), leave_out=SIDECAR_ENV)],
        "env": [{"name": name, "value": value} for name, value in to_environment(proxy, SIDECAR_ENV).items()],
        "ports": [{"name": "cifer-probes", "containerPort": settings.probe_port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": chosen.cpu[0], "memory": chosen.memory[0]},
                      "limits": {"cpu": chosen.cpu[1], "memory": chosen.memory[1]}},
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # Asked every second: the pod turns Ready within a second of the sidecar listening
        # (bench/cluster.py admit_to_ready_s; every 5 s gave 1.5-6.1 s, median 4.2, on the test node).
        "readinessProbe": {**probe, "periodSeconds": 1},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "volumeMounts": [{"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True}],
    }


def token_volume(settings: InjectorSettings) -> dict[str, Any]:
    return {"name": TOKEN_VOLUME, "projected": {"sources": [{"serviceAccountToken": {
        "audience": "cifer", "expirationSeconds": settings.token_expiration_s, "path": DEFAULT_TOKEN_FILE.name}}]}}


def injected_mode(ops: list[dict[str, Any]]) -> str | None:
    """The mode a patch injects the sidecar in (from its `cifer.io/injected` record); None: no sidecar."""
    for op in ops:
        value = op["value"] if op["path"].endswith(_escape(INJECTED)) else (
            op["value"].get(INJECTED) if op["path"] == "/metadata/annotations" else None)
        if isinstance(value, str):
            return json.loads(value)["mode"]
    return None


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


async def patch(pod: Mapping[str, Any], namespace: str, mode: str, settings: InjectorSettings,
                key_names: KeyNames, server: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The JSON patch that injects the sidecar; empty when the pod is not to be injected. `server`:
    the API server's (major, minor), which chooses the sidecar's mode unless something forces one."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    annotations = meta.get("annotations") or {}
    containers = spec.get("containers") or []
    if namespace in settings.exclude_namespaces or not wants_sidecar(annotations, mode):
        return []
    if any(c.get("name") == CONTAINER for c in [*containers, *(spec.get("initContainers") or [])]):
        return []  # injected already: injection is idempotent
    chosen = options(annotations, settings)
    warm = await cifer_ids(chosen.keys, namespace, key_names)
    ops: list[dict[str, Any]] = []
    sidecar_mode = modes.chosen(chosen.sidecar_mode, settings.sidecar_mode, server)
    where = [{"name": "CIFER_PROXY_URL", "value": f"http://localhost:{chosen.port}"}]
    if chosen.grpc_port:
        where.append({"name": "CIFER_GRPC_TARGET", "value": f"localhost:{chosen.grpc_port}"})
    if sidecar_mode == modes.CLASSIC and modes.owned_by_job(meta):  # nothing else would end the sidecar
        where.append({"name": "CIFER_SHUTDOWN_URL", "value": f"http://localhost:{chosen.port}/v1/shutdown"})
    for index, container in enumerate(containers):
        env = container.get("env")
        if env is None:
            ops.append({"op": "add", "path": f"/spec/containers/{index}/env", "value": where})
            continue
        for var in where:  # the app's own value, if it has one, wins
            if not any(given.get("name") == var["name"] for given in env):
                ops.append({"op": "add", "path": f"/spec/containers/{index}/env/-", "value": var})
    container = modes.placed(sidecar(settings, chosen, warm), sidecar_mode, probe=_probe(settings),
                             health_url=f"http://127.0.0.1:{settings.probe_port}/v1/health")
    ops.append(modes.insertion(spec, sidecar_mode, container))
    if spec.get("volumes") is None:
        ops.append({"op": "add", "path": "/spec/volumes", "value": [token_volume(settings)]})
    else:
        ops.append({"op": "add", "path": "/spec/volumes/-", "value": token_volume(settings)})
    key, value = INJECTED_LABEL
    if meta.get("labels") is None:
        ops.append({"op": "add", "path": "/metadata/labels", "value": {key: value}})
    else:
        ops.append({"op": "add", "path": f"/metadata/labels/{_escape(key)}", "value": value})
    record = json.dumps({"container": CONTAINER, "mode": sidecar_mode, "version": cifer.__version__,
                         "image": settings.image}, separators=(",", ":"))
    if meta.get("annotations") is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {INJECTED: record}})
    else:
        ops.append({"op": "add", "path": f"/metadata/annotations/{_escape(INJECTED)}", "value": record})
    return ops
