"""The local stack: a real Kubernetes control plane, OPA and Prometheus as processes on loopback.

No container engine runs on the build machines, so the components a kind cluster would have
run here as plain processes on 127.0.0.1, each on a free port: etcd, kube-apiserver (RBAC,
ServiceAccount tokens, ValidatingAdmissionPolicy), kube-controller-manager, kube-scheduler and
kwok (fake nodes on which pods reach Running, except those of an image tagged `...-bad`, which
stay Pending: a build that never becomes Ready), plus OPA and Prometheus.

The API server writes an audit log (``Cluster.audit_log``, JSON lines, read by
:mod:`audit`): it is the evidence of what each user, the operator above all, did to the
cluster. The stack's own components act as the user ``kubeheal-stack`` and the demo service as
``kubeheal-demo``, so that the audit policy can leave out their incessant reads.

Used three ways: by the pytest fixtures (``tests/conftest.py``), by ``make cluster-up`` /
``make cluster-down`` (``python hack/localstack.py up|down``), and by the demo. A component
that fails to start raises :class:`ComponentError`, naming it and showing the tail of its log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

HACK = Path(__file__).resolve().parent
ADMIN_TOKEN = "kubeheal-admin-token"
# Users for the tests: name -> (token, groups). Only the admin is in system:masters.
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": (ADMIN_TOKEN, ("system:masters",)),
    "alice": ("alice-token", ("kubeheal-testers",)),
    "bob": ("bob-token", ("kubeheal-testers",)),
    "carol": ("carol-token", ("kubeheal-testers",)),
    # Controller-manager, scheduler and kwok; the demo service.
    "kubeheal-stack": ("kubeheal-stack-token", ("system:masters",)),
    "kubeheal-demo": ("kubeheal-demo-token", ("system:masters",)),
}
# The audit policy: every request once (when answered), the request's body for what can act
# on a workload (Deployments, their scale, HPAs, pod deletions and evictions), and nothing of
# the stack components' own reads and status writes, which would drown the rest.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {"level": "None", "nonResourceURLs": [
            "/healthz*", "/readyz*", "/livez*", "/version", "/openapi*", "/metrics"]},
        {"level": "None", "users": ["kubeheal-stack", "kubeheal-demo"],
         "verbs": ["get", "list", "watch"]},
        {"level": "None", "users": ["kubeheal-stack"], "resources": [
            {"group": "", "resources": ["events", "endpoints", "nodes/status", "pods/status"]},
            {"group": "events.k8s.io", "resources": ["events"]},
            {"group": "coordination.k8s.io", "resources": ["leases"]},
            {"group": "discovery.k8s.io", "resources": ["endpointslices"]},
            {"group": "apps", "resources": ["deployments/status", "replicasets/status"]},
        ]},
        {"level": "Request", "verbs": ["create", "update", "patch", "delete"], "resources": [
            {"group": "apps", "resources": ["deployments", "deployments/scale"]},
            {"group": "autoscaling", "resources": ["horizontalpodautoscalers"]},
            {"group": "", "resources": ["pods", "pods/eviction"]},
        ]},
        {"level": "Metadata"},
    ],
}
NODES = ("kwok-node-0", "kwok-node-1")


def bin_dir() -> Path:
    """Where hack/build-stack.sh put the binaries."""
    if "KUBEHEAL_BIN" in os.environ:
        return Path(os.environ["KUBEHEAL_BIN"])
    cache = Path(os.environ.get("KUBEHEAL_CACHE", Path.home() / ".cache" / "kubeheal"))
    return cache / "bin"


def binary(name: str) -> str:
    """Path of a stack binary; Prometheus comes from the Debian package."""
    path = bin_dir() / name
    if path.exists():
        return str(path)
    for candidate in (f"/usr/bin/{name}", f"/usr/local/bin/{name}"):
        if Path(candidate).exists():
            return candidate
    raise ComponentError(name, f"binary not found in {bin_dir()}; run hack/build-stack.sh", None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ComponentError(RuntimeError):
    """A component of the stack did not start; the message names it and shows its log's tail."""

    def __init__(self, component: str, reason: str, log: Path | None) -> None:
        tail = ""
        if log is not None and log.exists():
            lines = log.read_text(errors="replace").splitlines()[-25:]
            tail = f"\n--- last lines of {log} ---\n" + "\n".join(lines)
        super().__init__(f"{component}: {reason}{tail}")
        self.component = component


@dataclass
class Process:
    """One running component."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid is not None and _pid_alive(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        if self.pid is None or not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGCONT)  # a test may have paused it
            os.killpg(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Poll ``ready`` until true; fail naming the component if it dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ComponentError(self.name, f"exited before {what}", self.log)
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.2)
        raise ComponentError(self.name, f"not {what} after {timeout:.0f}s", self.log)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def http_ok(url: str, token: str | None = None, timeout: float = 2.0) -> bool:
    """True when GET url answers 200 (TLS not verified: the serving cert is self-signed)."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    ctx = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ctx) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Cluster:
    """The Kubernetes part of the stack, rooted in one directory."""

    root: Path
    processes: list[Process] = field(default_factory=list)
    apiserver_port: int = 0

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def kubeconfig_for(self, user: str, token: str | None = None) -> Path:
        """A kubeconfig acting as ``user`` (one of USERS), or with an arbitrary token."""
        path = self.root / f"kubeconfig-{user}"
        _write_kubeconfig(path, self.server, self.ca, user, token or USERS[user][0])
        return path

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: one JSON object per line (see :mod:`audit`)."""
        return self.root / "logs" / "audit.log"

    @property
    def ca(self) -> Path:
        """The CA of the API server's self-signed serving certificate (the chain's last)."""
        return self.root / "pki" / "apiserver.crt"

    def kubectl(self, *args: str, user: str = "admin", check: bool = True,
                input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster; its output is returned as text."""
        config = self.kubeconfig if user == "admin" else self.kubeconfig_for(user)
        result = subprocess.run(
            [binary("kubectl"), f"--kubeconfig={config}", *args],
            capture_output=True, text=True, input=input, timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    # -- start-up -------------------------------------------------------------------------

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.root / "etcd", ignore_errors=True)  # every start is a new cluster
        certs = self.root / "pki"
        certs.mkdir(exist_ok=True)
        _service_account_key(certs / "sa.key", certs / "sa.pub")
        tokens = self.root / "tokens.csv"
        tokens.write_text(
            "".join(
                f'{tok},{name},uid-{name},"{",".join(groups)}"\n'
                for name, (tok, groups) in USERS.items()
            )
        )
        try:
            self._start_etcd()
            self._start_apiserver(certs, tokens)
            _write_kubeconfig(self.kubeconfig, self.server, self.ca, "admin", ADMIN_TOKEN)
            self.kubeconfig_for("kubeheal-stack")
            self._start_controllers(certs)
            self._start_kwok()
            self._wait_until_usable()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, argv: Sequence[str]) -> Process:
        process = Process(name, list(argv), self.root / "logs" / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._spawn("etcd", [
            binary("etcd"),
            "--data-dir", str(self.root / "etcd"),
            "--listen-client-urls", self.etcd_url,
            "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",
            "--log-level", "warn",
        ])
        etcd.wait_until(lambda: http_ok(f"{self.etcd_url}/health"), "healthy", 60)

    def _start_apiserver(self, certs: Path, tokens: Path) -> None:
        self.apiserver_port = free_port()
        policy = self.root / "audit-policy.json"
        policy.write_text(json.dumps(AUDIT_POLICY, indent=2))
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        apiserver = self._spawn("kube-apiserver", [
            binary("kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--secure-port={self.apiserver_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={certs}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={certs / 'sa.pub'}",
            f"--service-account-signing-key-file={certs / 'sa.key'}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--enable-priority-and-fairness=false",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",  # a request is answered once it is on record
            "--v=1",
        ])
        apiserver.wait_until(
            lambda: http_ok(f"{self.server}/readyz", ADMIN_TOKEN), "ready (/readyz)", 120
        )

    def _start_controllers(self, certs: Path) -> None:
        config = str(self.root / "kubeconfig-kubeheal-stack")
        self._spawn("kube-controller-manager", [
            binary("kube-controller-manager"),
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--leader-elect=false",
            "--secure-port=0",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={certs / 'sa.key'}",
            f"--root-ca-file={certs / 'apiserver.crt'}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
            "--v=1",
        ])
        self._spawn("kube-scheduler", [
            binary("kube-scheduler"),
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--leader-elect=false",
            "--secure-port=0",
            "--v=1",
        ])

    def _start_kwok(self) -> None:
        self._spawn("kwok", [
            binary("kwok"),
            f"--kubeconfig={self.root / 'kubeconfig-kubeheal-stack'}",
            f"--config={kwok_stages(self.root)}",
            "--manage-all-nodes=true",
            f"--server-address=127.0.0.1:{free_port()}",
            "--cidr=10.244.0.0/16",
            "--node-ip=127.0.0.1",
        ])
        for node in NODES:
            self.kubectl("apply", "-f", "-", input=json.dumps(_kwok_node(node)))

    def add_nodes(self, count: int) -> list[str]:
        """``count`` more fake nodes (110 pods each), Ready once kwok takes them in."""
        have = len(json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"])
        names = [f"kwok-node-{i}" for i in range(have, have + count)]
        for node in names:
            self.kubectl("apply", "-f", "-", input=json.dumps(_kwok_node(node)))
        return names

    def _wait_until_usable(self) -> None:
        """Nodes Ready and the default ServiceAccount present: pods can be admitted."""

        def nodes_ready() -> bool:
            """Ready, and the node lifecycle controller has lifted the not-ready taint."""
            nodes = json.loads(self.kubectl("get", "nodes", "-o", "json").stdout)["items"]
            return len(nodes) == len(NODES) and all(
                not node["spec"].get("taints")
                and any(c["type"] == "Ready" and c["status"] == "True"
                        for c in node["status"].get("conditions", []))
                for node in nodes
            )

        def default_sa() -> bool:
            return self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0

        by_name = {p.name: p for p in self.processes}
        by_name["kwok"].wait_until(nodes_ready, "managing Ready nodes", 60)
        by_name["kube-controller-manager"].wait_until(default_sa, "creating ServiceAccounts", 60)

    # -- faults -----------------------------------------------------------------------------

    def component(self, name: str) -> Process:
        """The running component ``name`` (etcd, kube-apiserver, kwok...)."""
        found = next((p for p in self.processes if p.name == name), None)
        if found is None:
            raise KeyError(f"no component {name}; have {[p.name for p in self.processes]}")
        return found

    def restart(self, name: str) -> None:
        """Stop a component (SIGTERM) and start it again with the same ports and data."""
        process = self.component(name)
        process.stop()
        process.start()
        if name == "etcd":
            process.wait_until(lambda: http_ok(f"{self.etcd_url}/health"), "healthy", 60)
        elif name == "kube-apiserver":
            process.wait_until(lambda: http_ok(f"{self.server}/readyz", ADMIN_TOKEN),
                               "ready (/readyz)", 120)

    def freeze(self, name: str) -> None:
        """SIGSTOP a component: it keeps its sockets open and answers nothing."""
        process = self.component(name)
        if process.pid is not None:
            os.killpg(process.pid, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        process = self.component(name)
        if process.pid is not None:
            os.killpg(process.pid, signal.SIGCONT)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _write_kubeconfig(path: Path, server: str, ca: Path, user: str, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubeheal", "cluster": {
            "server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "kubeheal", "context": {"cluster": "kubeheal", "user": user}}],
        "current-context": "kubeheal",
    }
    path.write_text(json.dumps(config, indent=2))


def _service_account_key(key: Path, pub: Path) -> None:
    if key.exists() and pub.exists():
        return
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True,
                   capture_output=True)


NEVER_READY: Final = """\
    - key: '.spec.containers.[].image | endswith("-bad")'
      operator: 'NotIn'
      values:
      - 'true'
"""
"""The pod-ready stage's extra condition: a pod with a container image tagged ``...-bad`` is
never made Ready (it stays Pending), as a broken build that never passes its readiness."""


def kwok_stages(root: Path) -> Path:
    """kwok's default stages (built by ``make setup``), written under ``root`` with the
    pod-ready stage holding pods of a ``-bad`` image not Ready (:data:`NEVER_READY`)."""
    text = (bin_dir() / "kwok-stages.yaml").read_text()
    stage = text.index("name: pod-ready")
    marker = "    matchExpressions:\n"
    at = text.index(marker, stage) + len(marker)
    path = root / "kwok-stages.yaml"
    path.write_text(text[:at] + NEVER_READY + text[at:])
    return path


def _kwok_node(name: str) -> dict[str, object]:
    """A fake Node that kwok keeps Ready (kwok's documented node manifest)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "nodeInfo": {
                "architecture": "amd64",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "operatingSystem": "linux",
            },
            "phase": "Running",
        },
    }


# -- OPA and Prometheus -------------------------------------------------------------------


@dataclass
class Opa:
    """A real OPA server on a free loopback port."""

    root: Path
    process: Process | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process = Process("opa", [
            binary("opa"), "run", "--server", f"--addr=127.0.0.1:{self.port}",
            "--log-level=error", "--disable-telemetry",
        ], self.root / "logs" / "opa.log")
        self.process.start()
        self.process.wait_until(lambda: http_ok(f"{self.url}/health"), "healthy", 30)

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def restart(self) -> None:
        """Start again on the same port, empty (OPA keeps policies in memory only)."""
        self.stop()
        self.start(port=self.port)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it accepts connections and never answers."""
        if self.process and self.process.pid:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process and self.process.pid:
            os.killpg(self.process.pid, signal.SIGCONT)


class LoopbackServer:
    """What Prometheus and Alertmanager share: a process on a loopback port, ready once it
    answers /-/ready."""

    process: Process | None
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, process: Process) -> None:
        self.process = process
        process.start()
        process.wait_until(lambda: http_ok(f"{self.url}/-/ready"), "ready", 60)

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class Prometheus(LoopbackServer):
    """A real Prometheus server scraping the given loopback targets."""

    root: Path
    targets: list[str]
    scrape_interval: str = "1s"
    process: Process | None = None
    port: int = 0
    alertmanagers: list[str] = field(default_factory=list)  # host:port to send alerts to
    rule_files: list[Path] = field(default_factory=list)  # alerting rules it evaluates

    def start(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "prometheus.yml"
        config.write_text(json.dumps({
            "global": {"scrape_interval": self.scrape_interval,
                       "evaluation_interval": self.scrape_interval},
            "scrape_configs": [{"job_name": "kubeheal", "static_configs": [
                {"targets": self.targets}]}],
            **({"alerting": {"alertmanagers": [{"static_configs": [
                {"targets": self.alertmanagers}]}]}} if self.alertmanagers else {}),
            **({"rule_files": [str(f) for f in self.rule_files]} if self.rule_files else {}),
        }))
        self.serve(Process("prometheus", [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ], self.root / "logs" / "prometheus.log"))

    def restart(self) -> None:
        """Start again on the same port and storage (the URL stays valid)."""
        self.stop()
        self.start(port=self.port)


@dataclass
class Alertmanager(LoopbackServer):
    """A real Alertmanager (the Debian package), alone (no cluster peers), with ``config``
    as its alertmanager.yml."""

    root: Path
    config: dict[str, object]
    process: Process | None = None
    port: int = 0

    def start(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "alertmanager.yml"
        config.write_text(json.dumps(self.config))  # JSON is YAML
        self.serve(Process("alertmanager", [
            binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ], self.root / "logs" / "alertmanager.log"))


# -- make cluster-up / cluster-down ---------------------------------------------------------


def _state_file(root: Path) -> Path:
    return root / "stack.json"


def up(root: Path) -> None:
    state = _state_file(root)
    if state.exists():
        raise SystemExit(f"a stack already runs from {root}; run `make cluster-down` first")
    cluster = Cluster(root)
    cluster.start()
    opa = Opa(root)
    try:
        opa.start()
    except BaseException:
        cluster.stop()
        raise
    state.write_text(json.dumps({
        "server": cluster.server,
        "kubeconfig": str(cluster.kubeconfig),
        "opa": opa.url,
        "processes": [
            {"name": p.name, "pid": p.pid, "log": str(p.log)}
            for p in [*cluster.processes, *([opa.process] if opa.process else [])]
        ],
    }, indent=2))
    print(f"cluster ready: {cluster.server}")
    print(f"  export KUBECONFIG={cluster.kubeconfig}")
    print(f"  OPA: {opa.url}")
    print(f"  logs: {root / 'logs'}")


def down(root: Path) -> None:
    state = _state_file(root)
    if not state.exists():
        print(f"no stack runs from {root}")
        return
    for entry in reversed(json.loads(state.read_text())["processes"]):
        Process(entry["name"], [], Path(entry["log"]), pid=entry["pid"]).stop()
        print(f"stopped {entry['name']} (pid {entry['pid']})")
    state.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start or stop the local stack.")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--dir", default=os.environ.get("STACK_DIR", ".stack"),
                        help="where the stack keeps its state, logs and kubeconfig")
    args = parser.parse_args(argv)
    root = Path(args.dir).resolve()
    try:
        up(root) if args.command == "up" else down(root)
    except ComponentError as e:
        print(f"cluster-up failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
