"""A real node where pods run: containerd, the kubelet, the controller-manager, the scheduler and
kube-proxy beside their own etcd and kube-apiserver, and a cluster DNS server.

The API-server-only `kube` fixture (`kube.control_plane`) stores pods but never runs them. This
one runs them, so the chart's containers, the injector's patch, projected tokens and the sidecar
beside an application are shown working at run time. The recipe it follows was verified on these
machines (/work/shared/notes/kube-node/):
- kubelet, kube-controller-manager, kube-scheduler and kube-proxy 1.20.2 are built from the same
  Debian source as kube-apiserver (`scripts/build-kube-node`, cached outside the repository);
  containerd, runc and the CNI plugins are Debian's;
- images are OCI archives made without a registry (`scripts/build-node-images`: the pause image,
  busybox and the product's image) and imported with `ctr`; pods name them with
  `imagePullPolicy: Never`.

Identities, none anonymous: the API server refuses anonymous requests; the kubelet is
`system:node:cifer-node` under the Node authorizer and NodeRestriction; the controller-manager,
the scheduler and kube-proxy are `system:kube-controller-manager`, `system:kube-scheduler` and
`system:kube-proxy` (the bindings Kubernetes bootstraps for those names), and the
controller-manager runs each controller under its own ServiceAccount. The kubelet serves only
clients with a certificate from the node's CA (the API server's `kube-apiserver-kubelet-client`,
bound to `system:kubelet-api-admin`) or a token the API server vouches for.

Cluster DNS: no CoreDNS image can be pulled here, so Debian's dnsmasq answers for
`<service>.<namespace>.svc.cluster.local` from a hosts file that a watcher keeps equal to the
Services' ClusterIPs; the kubelet gives pods its address as their name server, with the usual
search path, so the chart's `https://<name>.<namespace>.svc` URLs resolve inside pods. It answers
NXDOMAIN for other `cluster.local` names and nothing else.

Everything lives under a fresh folder in /var/lib and one in /run. `stop()` deletes the pods,
stops every process, undoes the host changes (mounts, the bridge, iptables chains, cgroups,
ip_forward) and fails if anything is left behind.

Needs root (mounts, network namespaces, iptables, cgroups): the CI machine runs as root.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from certificates import TestCA

from kube.control_plane import (
    REPO_ROOT,
    ControlPlane,
    ControlPlaneError,
    KubeApiError,
    log_tail,
    stop_processes,
)

NODE_NAME = "cifer-node"
POD_CIDR = "10.88.0.0/16"
BRIDGE = "cifer0"
CNI_NETWORK = "cifer-node"
CLUSTER_DOMAIN = "cluster.local"
CNI_BIN_DIR = "/usr/lib/cni"
BUILD_NODE = REPO_ROOT / "scripts" / "build-kube-node"
BUILD_IMAGES = REPO_ROOT / "scripts" / "build-node-images"
BUILD_TIMEOUT_S = 45 * 60.0
NODE_READY_TIMEOUT_S = 120.0
POD_LOG_ROOTS = (Path("/var/log/pods"), Path("/var/log/containers"))  # fixed in kubelet 1.20
KUBELET_CLIENT = "kube-apiserver-kubelet-client"
CHAIN = re.compile(r"^-N ((?:CNI|KUBE)-\S*)", re.MULTILINE)


def node_ip() -> str:
    """The machine's own address: kubelet 1.20 refuses a loopback node IP. (A UDP connect
    sends nothing; it only asks the kernel which source address it would use.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("1.1.1.1", 9))  # the default route's source address
        return probe.getsockname()[0]


def built(script: Path, override: str) -> Path:
    """The folder a build script prints as its last line (it builds once, then only prints), or
    the folder named by the environment variable `override`."""
    if os.environ.get(override):
        return Path(os.environ[override])
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise ControlPlaneError(f"{script.name} failed (exit {done.returncode}):\n{tail}")
    return Path(done.stdout.strip().splitlines()[-1])


def image_name(archive: Path) -> str:
    """The name containerd gives an imported OCI archive: its `io.containerd.image.name`."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("./index.json") or tar.extractfile("index.json")
        index = json.load(member)
    return index["manifests"][0]["annotations"]["io.containerd.image.name"]


def _run(*argv: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise ControlPlaneError(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr.strip()}")
    return done


def _kubeconfig(path: Path, url: str, token: str, ca_file: str) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "node",
        "clusters": [{"name": "node", "cluster": {"server": url, "certificate-authority": ca_file}}],
        "users": [{"name": "node", "user": {"token": token}}],
        "contexts": [{"name": "node", "context": {"cluster": "node", "user": "node"}}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    path.chmod(0o600)
    return path


class ClusterDns:
    """dnsmasq answering for the Services' names, fed by a thread that lists Services."""

    POLL_S = 0.3

    def __init__(self, plane: ControlPlane, address: str, folder: Path) -> None:
        self.plane = plane
        self.hosts = folder / "services.hosts"
        self.log = folder / "dnsmasq.log"
        self._stop = threading.Event()
        self._shown = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.refresh()  # before dnsmasq starts: a SIGHUP before it installs its handler would kill it
        self.proc = ControlPlane.spawn([
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",
            "--no-resolv", "--no-hosts", f"--addn-hosts={self.hosts}", f"--local=/{CLUSTER_DOMAIN}/",
            f"--listen-address={address}", "--bind-interfaces", "--port=53", "--log-facility=-",
        ], self.log, dict(os.environ))
        self._thread = threading.Thread(target=self._watch, name="cluster-dns", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        services = self.plane.request("GET", "/api/v1/services")["items"]
        lines = sorted(
            f"{svc['spec']['clusterIP']} {svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.{CLUSTER_DOMAIN}"
            for svc in services if svc["spec"].get("clusterIP") not in (None, "", "None"))
        text = "\n".join(lines) + "\n"
        if text != self._shown:
            temporary = self.hosts.with_suffix(".new")
            temporary.write_text(text)
            os.replace(temporary, self.hosts)
            self._shown = text
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGHUP)  # dnsmasq re-reads --addn-hosts

    def _watch(self) -> None:
        while not self._stop.wait(self.POLL_S):
            try:
                self.refresh()
            except (OSError, KubeApiError, ValueError):
                pass  # the API server is stopping, or busy: the next round catches up

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        stop_processes([self.proc])


class Node:
    """The running node and its control plane (`plane`, whose admin `kubectl` and helm use)."""

    def __init__(self, plane: ControlPlane, ip: str, base: Path, run: Path) -> None:
        self.plane = plane
        self.ip = ip
        self.base = base
        self.run = run
        self.socket = run / "containerd" / "containerd.sock"
        self.images: dict[str, str] = {}
        self.dns: ClusterDns | None = None
        self._binaries: Path | None = None  # set once the node's binaries run: kube-proxy cleans up with it
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._ip_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        self._log_roots_before = {root: root.exists() for root in POD_LOG_ROOTS}

    # ------------------------------------------------------------------ starting

    @classmethod
    def launch(cls) -> Node:
        if os.geteuid() != 0:
            raise ControlPlaneError("a node needs root (mounts, network namespaces, iptables, cgroups)")
        binaries, images = built(BUILD_NODE, "CIFER_NODE_BINARIES"), built(BUILD_IMAGES, "CIFER_NODE_IMAGES")
        ip = node_ip()
        tokens = {name: secrets.token_hex(24) for name in ("node", "controller-manager", "scheduler", "proxy")}
        base = Path(tempfile.mkdtemp(prefix="cifer-node-", dir="/var/lib"))
        run = Path(tempfile.mkdtemp(prefix="cifer-node-", dir="/run"))
        pki = base / "pki"  # read by the API server whenever it calls a kubelet
        pki.mkdir()
        kubelet_ca = TestCA("cifer node kubelet CA")
        client = kubelet_ca.issue((KUBELET_CLIENT,), client=True)
        (pki / "kubelet-ca.crt").write_bytes(kubelet_ca.pem)
        (pki / "client.crt").write_bytes(client.cert_pem)
        (pki / "client.key").write_bytes(client.key_pem)
        try:
            plane = ControlPlane.launch(
                address=ip,
                users=((tokens["node"], f"system:node:{NODE_NAME}", "system:nodes"),
                       (tokens["controller-manager"], "system:kube-controller-manager", ""),
                       (tokens["scheduler"], "system:kube-scheduler", ""),
                       (tokens["proxy"], "system:kube-proxy", "")),
                authorization_mode="Node,RBAC",
                extra_args=("--enable-admission-plugins=NodeRestriction", "--anonymous-auth=false",
                            f"--kubelet-client-certificate={pki / 'client.crt'}",
                            f"--kubelet-client-key={pki / 'client.key'}",
                            "--kubelet-preferred-address-types=InternalIP,Hostname"),
            )
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            shutil.rmtree(run, ignore_errors=True)
            raise
        node = cls(plane, ip, base, run)
        try:
            node._start(binaries, images, tokens)
        except BaseException as err:
            logs = node.logs()
            try:
                node.stop()
            finally:
                if isinstance(err, Exception):
                    raise ControlPlaneError(f"the node did not start: {err}\n{logs}") from err
            raise
        return node

    def _start(self, binaries: Path, images: Path, tokens: dict[str, str]) -> None:
        self._binaries = binaries
        archives = sorted(images.glob("*.oci.tar"))
        self.images = {archive.name.removesuffix(".oci.tar"): image_name(archive) for archive in archives}
        ca = self.plane.ca_file or ""
        self._write_runtime_config()
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        self._process("containerd", ["containerd", "--config", str(self.base / "containerd.toml")])
        self._until(lambda: self.ctr("version", check=False).returncode == 0, 30, "containerd answers")
        for archive in archives:
            self.ctr("images", "import", str(archive), timeout=600)
        self.dns = ClusterDns(self.plane, self.ip, self.base)
        self._processes["dnsmasq"] = self.dns.proc
        self.plane.create_cluster_role_binding_for_user(KUBELET_CLIENT, cluster_role="system:kubelet-api-admin")
        self._process("kubelet", [
            str(binaries / "kubelet"), f"--config={self._write_kubelet_config()}",
            f"--kubeconfig={_kubeconfig(self.base / 'kubelet.kubeconfig', self.plane.url, tokens['node'], ca)}",
            f"--cert-dir={self.base / 'kubelet-pki'}", f"--root-dir={self.base / 'kubelet'}",
            f"--volume-plugin-dir={self.base / 'volume-plugins'}",
            "--container-runtime=remote", f"--container-runtime-endpoint=unix://{self.socket}",
            "--runtime-request-timeout=5m", f"--node-ip={self.ip}", f"--hostname-override={NODE_NAME}", "--v=2",
        ])
        self._until(self._node_ready, NODE_READY_TIMEOUT_S, f"node {NODE_NAME} Ready")

        def kubeconfig(name: str) -> str:
            return f"--kubeconfig={_kubeconfig(self.base / f'{name}.kubeconfig', self.plane.url, tokens[name], ca)}"

        self._process("controller-manager", [
            str(binaries / "kube-controller-manager"), kubeconfig("controller-manager"), "--leader-elect=false",
            "--port=0", "--secure-port=0", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.plane.workdir / 'sa.key'}", f"--root-ca-file={ca}",
        ])
        self._process("scheduler", [
            str(binaries / "kube-scheduler"), kubeconfig("scheduler"), "--leader-elect=false",
            "--port=0", "--secure-port=0",
        ])
        self._process("kube-proxy", [
            str(binaries / "kube-proxy"), kubeconfig("proxy"), f"--hostname-override={NODE_NAME}",
            f"--cluster-cidr={POD_CIDR}", "--proxy-mode=iptables", "--conntrack-max-per-core=0",
            "--oom-score-adj=0", "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256",
        ])
        self._until(self._default_token_made, 60, "the token controller made the default ServiceAccount's token")
        self._until(self._proxy_synced, 60, "kube-proxy synced its rules")

    def _write_runtime_config(self) -> None:
        pause = self.images.get("pause")
        if not pause:
            raise ControlPlaneError("the node images have no pause image (pause.oci.tar)")
        cni = self.base / "cni"
        cni.mkdir()
        (cni / "10-cifer.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": CNI_NETWORK, "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(self.base / "cni-ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"}]}))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        (self.base / "containerd.toml").write_text(f"""version = 2
root = "{self.base / 'containerd'}"
state = "{self.run / 'containerd'}"
[grpc]
  address = "{self.socket}"
[{cri}]
  sandbox_image = "{pause}"
  # This sandbox does not let even root lower oom_score_adj: without this every sandbox fails.
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{self.run / 'runc'}"
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni}"
""")

    def _write_kubelet_config(self) -> Path:
        path = self.base / "kubelet-config.yaml"
        path.write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": self.ip, "port": 10250, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.base / "pki" / "kubelet-ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "clusterDomain": CLUSTER_DOMAIN, "clusterDNS": [self.ip], "resolvConf": "/etc/resolv.conf",
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
            "imageGCHighThresholdPercent": 99, "imageGCLowThresholdPercent": 98,
        }))
        return path

    def _process(self, name: str, argv: list[str]) -> None:
        self._processes[name] = ControlPlane.spawn(argv, self.base / f"{name}.log", dict(os.environ))

    def _until(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, proc in self._processes.items():
                if proc.poll() is not None:
                    raise ControlPlaneError(f"{name} exited with {proc.returncode} before {what}")
            try:
                if ready():
                    return
            except (OSError, KubeApiError, ValueError, KeyError):
                pass
            time.sleep(0.25)
        raise ControlPlaneError(f"no {what} after {timeout_s:.0f} s")

    def _node_ready(self) -> bool:
        node = self.plane.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))

    @staticmethod
    def _proxy_synced() -> bool:
        """kube-proxy's /healthz answers 200 once it has written the Services' rules."""
        with urllib.request.urlopen("http://127.0.0.1:10256/healthz", timeout=2) as answer:
            return answer.status == 200

    def _default_token_made(self) -> bool:
        account = self.plane.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return bool(account.get("secrets"))

    def ctr(self, *args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return _run("ctr", "--address", str(self.socket), "-n", "k8s.io", *args, check=check, timeout=timeout)

    # ------------------------------------------------------------------ reading

    def pods(self) -> list[dict[str, Any]]:
        return self.plane.request("GET", "/api/v1/pods")["items"]

    def report(self, *, include_done: bool = False) -> str:
        """What a failing test needs to see: every pod that is not Ready (nor Succeeded, unless
        `include_done`), its containers' states and their logs' last lines, and the
        namespace's warning events."""
        lines: list[str] = []
        try:
            pods = self.pods()
        except (OSError, KubeApiError) as err:
            return f"(no pods: {err})"
        for pod in pods:
            status, meta = pod.get("status", {}), pod["metadata"]
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
            if ready or (status.get("phase") == "Succeeded" and not include_done):
                continue
            lines.append(f"=== pod {meta['namespace']}/{meta['name']}: {status.get('phase')} "
                         f"{status.get('reason') or ''} {status.get('message') or ''}".rstrip())
            for container in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
                lines.append(f"--- {container['name']}: state {json.dumps(container.get('state'))} "
                             f"last {json.dumps(container.get('lastState'))}")
            folder = POD_LOG_ROOTS[0] / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
            for log in sorted(folder.glob("*/*.log")):
                lines.append(f"--- log {log.parent.name}/{log.name}:\n{log_tail(log, 30)}")
            try:
                events = self.plane.request("GET", f"/api/v1/namespaces/{meta['namespace']}/events")["items"]
            except (OSError, KubeApiError):
                events = []
            for event in events[-50:]:
                if event.get("involvedObject", {}).get("name") == meta["name"] and event.get("type") != "Normal":
                    lines.append(f"--- event {event.get('reason')}: {event.get('message')}")
        return "\n".join(lines) or "(every pod is Ready)"

    def logs(self) -> str:
        names = ["containerd", "kubelet", "controller-manager", "scheduler", "kube-proxy"]
        shown = [f"--- {name}.log (last lines) ---\n{log_tail(self.base / f'{name}.log', 25)}" for name in names
                 if (self.base / f"{name}.log").exists()]
        return "\n".join(shown + [self.plane.logs()])

    # ------------------------------------------------------------------ stopping

    def stop(self) -> None:
        """Delete every pod, stop every process, undo every host change; raise if anything is
        left (a mount, the bridge, an iptables chain, a cgroup)."""
        for name in ("controller-manager", "scheduler"):
            self._stop_process(name)
        if "kubelet" in self._processes and self._processes["kubelet"].poll() is None:
            self._delete_all_pods()
        for name in ("kubelet", "kube-proxy"):
            self._stop_process(name)
        if self._binaries is not None:
            _run(str(self._binaries / "kube-proxy"), "--cleanup", check=False)
        if "containerd" in self._processes and self._processes["containerd"].poll() is None:
            for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                self.ctr("tasks", "kill", "-s", "KILL", container, check=False)
                self.ctr("tasks", "rm", "-f", container, check=False)
                self.ctr("containers", "rm", container, check=False)
        self._stop_process("containerd")
        self._processes.pop("dnsmasq", None)
        if self.dns is not None:
            self.dns.stop()
        self.plane.stop()
        leftovers = self._undo_host_changes()
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.run, ignore_errors=True)
        if leftovers:
            raise ControlPlaneError("the node left behind: " + "; ".join(leftovers))

    def _stop_process(self, name: str) -> None:
        proc = self._processes.pop(name, None)
        if proc is not None:
            stop_processes([proc])

    def _delete_all_pods(self) -> None:
        try:
            for namespace in {pod["metadata"]["namespace"] for pod in self.pods()}:
                self.plane.request("DELETE", f"/api/v1/namespaces/{namespace}/pods?gracePeriodSeconds=0")
            self._until(lambda: not self.ctr("tasks", "ls", "-q", check=False).stdout.split(), 90,
                        "pod containers gone")
        except (OSError, KubeApiError, ControlPlaneError):
            pass  # whatever is left is killed through containerd below

    def _mounts(self) -> list[str]:
        roots = (str(self.base), str(self.run), "/run/netns/cni-")
        points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        return [point for point in points if point.startswith(roots)]

    def _undo_host_changes(self) -> list[str]:
        for point in sorted(self._mounts(), key=len, reverse=True):
            if _run("umount", point, check=False).returncode != 0:
                _run("umount", "-l", point, check=False)
        for namespace in Path("/run/netns").glob("cni-*"):
            namespace.unlink(missing_ok=True)
        _run("ip", "link", "del", BRIDGE, check=False)
        for table in ("nat", "filter", "mangle"):
            rules = _run("iptables", "-t", table, "-S", check=False).stdout
            for rule in rules.splitlines():  # jumps into our chains from the built-in ones
                if rule.startswith("-A ") and re.search(r"-j (CNI|KUBE)-", rule):
                    _run("iptables", "-t", table, *shlex.split("-D" + rule[2:]), check=False)
            for chain in CHAIN.findall(rules):
                _run("iptables", "-t", table, "-F", chain, check=False)
            for chain in CHAIN.findall(rules):
                _run("iptables", "-t", table, "-X", chain, check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(self._ip_forward)
        for controller in Path("/sys/fs/cgroup").iterdir():
            group = controller / "kubepods"
            if group.is_dir():
                for folder in sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                                     reverse=True) + [group]:
                    try:
                        folder.rmdir()
                    except OSError:
                        pass
        for root, existed in self._log_roots_before.items():
            if not existed:
                shutil.rmtree(root, ignore_errors=True)
        return self._leftovers()

    def _leftovers(self) -> list[str]:
        found = [f"mount {point}" for point in self._mounts()]
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            found.append(f"link {BRIDGE}")
        for table in ("nat", "filter", "mangle"):
            found += [f"iptables -t {table} chain {chain}"
                      for chain in CHAIN.findall(_run("iptables", "-t", table, "-S", check=False).stdout)]
        found += [f"cgroup {group}" for group in Path("/sys/fs/cgroup").glob("*/kubepods")]
        return found
