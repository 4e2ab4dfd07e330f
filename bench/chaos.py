"""Chaos on the real local stack: every remediation acts exactly once, whatever dies when.

The whole loop runs as in the end-to-end tests (``hack/loopstack.py``: cluster, OPA, the demo
service, Prometheus, the operator as its own process). One lane per action kind (rollback,
restart, scale, evict: a restart by pod deletion) injects, one target at a time, the fault that
action heals (a bad build, a leak on every pod, a load past capacity, a leak on one pod); each
run carries a seeded plan of faults, triggered by the remediation's own progress as the API
server shows it (its status phase, intent and timeline, watched), never by the driver's
internals:

- the operator SIGKILLed per phase: *decide* (the remediation exists, no decision recorded),
  *gate* (OPA has answered, the answer is held back by a proxy), *after-intent* (the intent is on
  record, the action not called: the driver's KUBEHEAL_PAUSE_AFTER_INTENT hook keeps it there
  for a few seconds), *act* (the API server applied the action, its answer is held back by a
  proxy: the outcome is unknown to the operator), *verify* (at a random moment while
  verifying);
- the kube-apiserver restarted mid-remediation, etcd restarted, OPA restarted (empty: the
  operator must load its policies again), the kube-apiserver frozen (SIGSTOP) for 30 s,
  Prometheus restarted while verifying.

The evidence is the API server's audit log, not the operator's word (``hack/auditlog.py``): an
observed action is a mutating call answered 2xx, by the operator's user, that changes the
target Deployment's spec (or its scale), one of its HPAs, or deletes or evicts one of its pods.
A run expects as many actions as its remediations record as executed (distinct intent tokens).
The phase a fault hit is read back at that moment (the remediation's status; for an intent on
record, the audit log says whether the action had already been applied), so the rows count
what really happened, not what was aimed at.

    python bench/chaos.py --kills 100 --seed 7

It prints one row per fault kind and phase: faults, runs, actions expected, actions observed,
remediations completed (Succeeded), time to recover (fault to Succeeded, median and max); and
the totals: double actions (observed past expected), missing actions, actions on missing data
(triggered, by a detection or by the verification of the action before, while Prometheus was
down or had just come back). Other runs in flight meet the same
faults (the stack is shared); they are evaluated the same way and counted as collateral.

The policies are the shipped ones, except the rate limits and cooldowns (in data.json and in
each runbook), lifted so that one target can be healed again and again in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "hack"), str(ROOT / "operator")]

from auditlog import AuditLog, AuditRecord, pod_of, whoami  # noqa: E402
from holdproxy import Hold, HoldProxy  # noqa: E402
from loopstack import TERMINAL, Json, LoopStack, demo_deployment  # noqa: E402

KINDS = ("rollback", "restart", "scale", "evict")
PHASES = ("decide", "gate", "after-intent", "act", "verify")
INFRA = ("apiserver-restart", "etcd-restart", "opa-restart", "apiserver-freeze",
         "prometheus-restart")
# Where each infrastructure fault is aimed: "detect" is right after the fault is injected,
# before the remediation opens (OPA restarted then is empty at the gate).
INFRA_AT = {"apiserver-restart": ("after-intent", "verify"), "etcd-restart": ("verify",),
            "opa-restart": ("detect",), "apiserver-freeze": ("after-intent", "verify"),
            "prometheus-restart": ("verify",)}
KUBECTL = "kubectl/"  # the bench's own moves, should the operator share the bench's user
PAUSE_AFTER_INTENT = 4.0  # seconds the driver waits between its intent and the call
FREEZE_SECONDS = 30.0
RUN_TIMEOUT = 600.0
PREFIX = {"rollback": "rb", "restart": "rs", "scale": "sc", "evict": "ev"}
ACTIONS: dict[str, list[Json]] = {
    "rollback": [{"name": "roll-back", "kind": "rollback"}],
    "restart": [{"name": "restart", "kind": "restart"}],
    "scale": [{"name": "scale-out", "kind": "scale",
               "scale": {"minReplicas": 1, "maxReplicas": 9, "step": 3}}],
    "evict": [{"name": "evict-pod", "kind": "restart", "restart": {"strategy": "delete-pod"}}],
}
RUNBOOK: dict[str, Any] = {"guardrails": {"cooldownSeconds": 0, "maxActionsPerHour": 1000,
                          "maxConcurrentRemediations": 1}}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- observing remediations ------------------------------------------------------------------


class Watcher:
    """The latest body of every Remediation, from a watch (re-established after outages)."""

    def __init__(self, kubeconfig: Path) -> None:
        from kubernetes import client, config

        self.api = client.CustomObjectsApi(
            config.new_client_from_config(config_file=str(kubeconfig)))
        self.latest: dict[str, Json] = {}
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        threading.Thread(target=self._run, name="watcher", daemon=True).start()

    def _run(self) -> None:
        from kubernetes import watch

        while not self.stopped.is_set():
            try:
                for event in watch.Watch().stream(
                        self.api.list_cluster_custom_object, "kubeheal.io", "v1alpha1",
                        "remediations", timeout_seconds=60, _request_timeout=75):
                    body = event["object"]
                    if not isinstance(body, dict) or "metadata" not in body:
                        continue
                    with self.changed:
                        self.latest[body["metadata"]["uid"]] = body
                        self.changed.notify_all()
            except Exception:  # the API server restarts and freezes on purpose
                time.sleep(0.5)

    def of(self, namespace: str, target: str, since: dt.datetime) -> list[Json]:
        """Remediations of the target created at or after ``since``, oldest first."""
        with self.changed:
            items = [r for r in self.latest.values()
                     if r["metadata"]["namespace"] == namespace
                     and r["spec"]["target"]["name"] == target
                     and created(r) >= since.replace(microsecond=0)]
        return sorted(items, key=created)

    def wait(self, timeout: float) -> None:
        with self.changed:
            self.changed.wait(timeout)


def created(body: Json) -> dt.datetime:
    return dt.datetime.fromisoformat(body["metadata"]["creationTimestamp"])


def triggered(remediations: list[Json], acted: dt.datetime) -> dt.datetime:
    """What an action at ``acted`` was taken on: the detection that opened its remediation,
    or the verification of the action before it, whichever came last (the timeline's
    "detected" and "verified" steps); ``acted`` itself when the record does not say. An
    action decided on data that Prometheus had, and executed while it restarted, did not act
    on missing data; one whose trigger fell in the outage did."""
    before = [r for r in remediations if created(r) <= acted]
    if not before:
        return acted
    timeline = (max(before, key=created).get("status") or {}).get("timeline") or []
    moments = [dt.datetime.fromisoformat(e["time"]) for e in timeline
               if e.get("step") in ("detected", "verified")]
    return max((m for m in moments if m <= acted), default=acted)


def phase_of(body: Json | None) -> str:
    return ((body or {}).get("status") or {}).get("phase") or "Detected"


# -- runs and their faults -------------------------------------------------------------------


@dataclass(eq=False)
class Fault:
    kind: str  # operator-kill or one of INFRA
    aimed: str  # the phase the plan aimed at
    hit: str = ""  # the phase read back when it struck
    at: dt.datetime | None = None
    collateral: bool = False


@dataclass
class Run:
    kind: str
    namespace: str
    target: str
    plan: list[Fault]
    started: dt.datetime = field(default_factory=now)
    ended: dt.datetime | None = None  # when the target was handed back (reset, rested)
    remediations: list[Json] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    outcome: str = "open"
    recovered_after: float | None = None

    @property
    def expected(self) -> int:
        return len({e["intent"]["token"] for r in self.remediations
                    for e in (r.get("status") or {}).get("executions", [])
                    if e.get("outcome") == "executed"})


class Chaos:
    def __init__(self, stack: LoopStack, args: argparse.Namespace, policies: Path) -> None:
        self.stack, self.args, self.policies = stack, args, policies
        self.lock = threading.RLock()  # one fault at a time
        self.kills = 0
        # Each lane its own seeded generator and its share of the infrastructure faults, so
        # that a lane's plans do not depend on how the threads interleave.
        kinds = [k for k in args.kinds.split(",") if k]
        self.rngs = {kind: random.Random(f"{args.seed}:{kind}") for kind in kinds}
        self.infra_left: dict[str, list[str]] = {kind: [] for kind in kinds}
        for i, fault in enumerate([f for _ in range(args.infra) for f in INFRA]):
            self.infra_left[kinds[i % len(kinds)]].append(fault)
        self.runs: list[Run] = []
        self.open: list[Run] = []
        self.prometheus_down: list[tuple[dt.datetime, dt.datetime]] = []
        self.audit = AuditLog(stack.cluster.audit_log)
        cluster = stack.cluster
        self.api_proxy = HoldProxy(cluster.server, serve_tls=(
            cluster.root / "pki" / "apiserver.crt", cluster.root / "pki" / "apiserver.key"))
        self.opa_proxy = HoldProxy(stack.opa.url)
        self.api_proxy.start()
        self.opa_proxy.start()
        self.watcher = Watcher(stack.kubeconfig)
        self.kubeconfig = self._proxied_kubeconfig()
        self.user = whoami(self.kubeconfig)
        self.deadline = time.monotonic() + args.minutes * 60

    # -- the operator ------------------------------------------------------------------------

    def _proxied_kubeconfig(self) -> Path:
        """The operator's own kubeconfig (whatever identity LoopStack gives it), through the
        proxy."""
        assert self.stack.operator is not None
        argv = self.stack.operator.argv
        source = Path(argv[argv.index("--kubeconfig") + 1])
        config = json.loads(source.read_text()) if source.read_text().lstrip().startswith("{") \
            else _yaml(source)
        for entry in config["clusters"]:
            entry["cluster"]["server"] = self.api_proxy.url
        path = self.stack.root / "kubeconfig-operator-proxied"
        path.write_text(json.dumps(config))
        return path

    def start_operator(self) -> None:
        self.stack.start_operator(
            kubeconfig=self.kubeconfig, opa_url=self.opa_proxy.url,
            extra=["--policies", str(self.policies)],
            env={"KUBEHEAL_PAUSE_AFTER_INTENT": f"{PAUSE_AFTER_INTENT:g}"})

    def strike(self, run: Run, fault: Fault) -> None:
        """Record the phase each open run is in now (``run`` aimed at, the others hit too)."""
        fault.at = at = now()
        bodies = self._fresh()
        for other in list(self.open):
            body = _newest(bodies, other)
            hit = self.classify(other, body, at,
                                held_gate=other is run and fault.aimed == "gate")
            if other is run:
                fault.hit = hit
                other.faults.append(fault)
            elif body is not None and phase_of(body) not in TERMINAL:
                other.faults.append(Fault(fault.kind, fault.aimed, hit, at, collateral=True))

    def kill(self, run: Run, fault: Fault, held: Hold | None = None) -> None:
        """SIGKILL the operator, read back where everything was, start it again."""
        if not self.lock.acquire(timeout=0.3 if held else -1):
            fault.hit = "missed"  # another fault is under way: the held call is stale
            run.faults.append(fault)
            if held is not None:
                held.release()
            return
        try:
            self.stack.kill_operator()
            self.kills += 1
            if held is not None:
                held.release()  # to a dead caller
            self.strike(run, fault)
            self.start_operator()
        finally:
            self.lock.release()

    def infra(self, run: Run, fault: Fault) -> None:
        stack, cluster = self.stack, self.stack.cluster
        with self.lock:
            self.strike(run, fault)
            if fault.kind == "apiserver-restart":
                cluster.restart("kube-apiserver")
            elif fault.kind == "etcd-restart":
                cluster.restart("etcd")
            elif fault.kind == "opa-restart":
                stack.opa.restart()
            elif fault.kind == "apiserver-freeze":
                cluster.freeze("kube-apiserver")
                try:
                    time.sleep(FREEZE_SECONDS)
                finally:
                    cluster.thaw("kube-apiserver")
            elif fault.kind == "prometheus-restart":
                down = now()
                stack.prometheus.restart()
                # Data is missing from the stop until a few scrapes after the return.
                self.prometheus_down.append((down, now() + dt.timedelta(seconds=15)))

    def _fresh(self) -> list[Json]:
        out = self.stack.kubectl("get", "remediations", "-A", "-o", "json", check=False)
        if out.returncode != 0:  # the API server is the fault: the watch's last word then
            with self.watcher.changed:
                return list(self.watcher.latest.values())
        items: list[Json] = json.loads(out.stdout)["items"]
        return items

    def classify(self, run: Run, body: Json | None, at: dt.datetime,
                 held_gate: bool = False) -> str:
        """The phase the remediation was in at ``at``, as recorded (see the module docstring)."""
        if body is None:
            return "detect"
        status = body.get("status") or {}
        phase = phase_of(body)
        if phase in TERMINAL:
            return "after-end"
        if phase == "Detected":
            return "gate" if held_gate else "decide"
        if phase == "AwaitingApproval":
            return "approval"
        if phase == "Executing":
            intent = status.get("intent")
            if not intent:
                return "gate"
            applied = self.audit.workload_actions(self.user, run.namespace, run.target,
                                                  since=created(body), until=at,
                                                  exclude_agent=KUBECTL)
            return "act" if applied else "after-intent"
        return "verify"

    # -- one run ---------------------------------------------------------------------------

    def plan(self, kind: str) -> list[Fault]:
        """A seeded plan: one infrastructure fault, or SIGKILLs aimed at 1-3 phases."""
        rng, infra = self.rngs[kind], self.infra_left[kind]
        if infra and rng.random() < 0.5:
            chosen = infra.pop(0)
            return [Fault(chosen, rng.choice(INFRA_AT[chosen]))]
        phases = sorted(rng.sample(PHASES, rng.randint(1, 3)), key=PHASES.index)
        return [Fault("operator-kill", phase) for phase in phases]

    def run(self, kind: str, namespace: str, target: str) -> Run:
        run = Run(kind, namespace, target, self.plan(kind))
        with self.lock:
            self.runs.append(run)
            self.open.append(run)
        holds = self._arm(run)
        try:
            run.started = patiently(lambda: inject(self.stack, kind, namespace, target))
            self._drive(run, holds)
        finally:
            for fault, hold in holds.items():
                proxy = self.opa_proxy if fault.aimed == "gate" else self.api_proxy
                proxy.disarm(hold)
            with self.lock:
                self.open.remove(run)
            try:
                patiently(lambda: reset(self.stack, kind, namespace, target,
                                        healed=run.outcome == "Succeeded"))
            finally:
                # The run's window in the audit log: until the target's next run may start.
                run.ended = now() + dt.timedelta(seconds=self.args.rest)
        return run

    def _arm(self, run: Run) -> dict[Fault, Hold]:
        holds: dict[Fault, Hold] = {}
        for fault in run.plan:
            if fault.kind != "operator-kill":
                continue
            def caught(hold: Hold, fault: Fault = fault) -> None:
                self.kill(run, fault, held=hold)

            if fault.aimed == "gate":
                holds[fault] = self.opa_proxy.arm(decision_for(run.namespace, run.target),
                                                  caught)
            elif fault.aimed == "act":
                holds[fault] = self.api_proxy.arm(action_on(run.namespace, run.target), caught)
        return holds

    def _drive(self, run: Run, holds: dict[Fault, Hold]) -> None:
        pending = list(run.plan)
        verify_delay = self.rngs[run.kind].uniform(0.0, 8.0)
        verifying_since: float | None = None
        given_up_at: float | None = None
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            mine = self.watcher.of(run.namespace, run.target, run.started)
            body = mine[-1] if mine else None
            phase = phase_of(body) if body else None
            for fault in list(holds):
                if fault.hit:  # struck from the proxy (see _arm)
                    pending.remove(fault)
                    del holds[fault]
            for fault in list(pending):
                if fault in holds:
                    continue
                struck = True
                if fault.aimed == "detect":
                    self.infra(run, fault)
                elif body is None:
                    continue
                elif phase in TERMINAL or (phase == "Verifying"
                                           and fault.aimed in ("decide", "after-intent")):
                    fault.hit = "missed"  # its moment passed (another fault struck meanwhile)
                    run.faults.append(fault)
                    struck = False
                elif (fault.aimed == "decide" and phase == "Detected") or (
                        fault.aimed == "after-intent" and phase == "Executing"
                        and (body.get("status") or {}).get("intent")):
                    self._strike(run, fault)
                elif fault.aimed == "verify" and phase == "Verifying":
                    verifying_since = verifying_since or time.monotonic()
                    if time.monotonic() - verifying_since < verify_delay:
                        continue
                    self._strike(run, fault)
                else:
                    continue
                pending.remove(fault)
                if struck:
                    break  # look at the remediation again before the next fault
            if body is not None and phase in TERMINAL:
                time.sleep(0.5)  # a held answer may be on its way to its kill
                for fault, hold in list(holds.items()):  # the call never came
                    self.api_proxy.disarm(hold)
                    self.opa_proxy.disarm(hold)
                    if not hold.caught.is_set():
                        fault.hit = "missed"
                        run.faults.append(fault)
                    del holds[fault]
                    pending.remove(fault)
                # A remediation that did not heal leaves the fault in place: the next one
                # opens (no cooldown here) and belongs to this run too.
                given_up_at = given_up_at or time.monotonic()
                if phase == "Succeeded" or time.monotonic() - given_up_at > 20:
                    break
            else:
                given_up_at = None
            self.watcher.wait(0.2)
        for fault in pending:  # the run ended (or gave up) before their moment came
            fault.hit = "missed"
            run.faults.append(fault)
        final = self.watcher.of(run.namespace, run.target, run.started)
        run.remediations = final
        last = final[-1] if final else None
        run.outcome = phase_of(last) if last else "none"
        if time.monotonic() >= deadline and run.outcome not in TERMINAL:
            run.outcome = f"timeout ({run.outcome})"
        status = (last or {}).get("status") or {}
        if run.outcome == "Succeeded" and status.get("completedAt"):
            done = dt.datetime.fromisoformat(status["completedAt"])
            run.recovered_after = (done - run.started).total_seconds()

    def _strike(self, run: Run, fault: Fault) -> None:
        if fault.kind == "operator-kill":
            self.kill(run, fault)
        else:
            self.infra(run, fault)

    # -- lanes -----------------------------------------------------------------------------

    def enough(self) -> bool:
        return (self.kills >= self.args.kills and not any(self.infra_left.values())) \
            or time.monotonic() > self.deadline

    def lane(self, kind: str, targets: list[str]) -> None:
        namespace = f"chaos-{kind}"
        rested: dict[str, float] = dict.fromkeys(targets, 0.0)
        while not self.enough():
            target = min(targets, key=lambda t: rested[t])
            wait = rested[target] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                run = self.run(kind, namespace, target)
            except Exception as e:  # a lane must not die silently: say why, go on
                print(f"  {kind:<8} {target:<6} run failed: {e!r}", flush=True)
                rested[target] = time.monotonic() + self.args.rest
                continue
            rested[target] = time.monotonic() + self.args.rest
            with self.lock:
                (self.stack.root / "report.txt").write_text(report(self) + "\n")
            print(f"  {kind:<8} {target:<6} {run.outcome:<12} "
                  f"faults {[f'{f.kind}@{f.hit}' + '*' * f.collateral for f in run.faults]}"
                  f"  (* met while another run's fault struck)  kills so far "
                  f"{self.kills}", flush=True)

    def actions(self, run: Run) -> list[AuditRecord]:
        """The operator's actions on the run's target within the run's window."""
        return self.audit.workload_actions(self.user, run.namespace, run.target,
                                           since=run.started, until=run.ended or now(),
                                           exclude_agent=KUBECTL)

    def unattributed(self, runs: list[Run]) -> list[AuditRecord]:
        """The operator's actions on a target outside every run's window: no fault of ours
        was open on it (a false alarm, or an action long after its run gave up)."""
        found: list[AuditRecord] = []
        for namespace, target in {(r.namespace, r.target) for r in runs}:
            windows = [(r.started, r.ended or now()) for r in self.runs
                       if (r.namespace, r.target) == (namespace, target)]
            found += [a for a in self.audit.workload_actions(self.user, namespace, target,
                                                             exclude_agent=KUBECTL)
                      if not any(start <= a.time <= end for start, end in windows)]
        return sorted(found, key=lambda a: a.time)

    def evaluate(self, run: Run) -> tuple[int, int]:
        """(observed actions, of which on missing data) for the run, from the audit log.

        The run's remediations are read again first: one opened just before a run gave up
        may have acted since, within the run's window.
        """
        ended = run.ended or now()
        run.remediations = [r for r in self.watcher.of(run.namespace, run.target, run.started)
                            if created(r) < ended]
        acted = self.actions(run)
        blind = sum(1 for a in acted
                    if any(start <= triggered(run.remediations, a.time) <= end
                           for start, end in self.prometheus_down))
        return len(acted), blind


# -- faults on the workloads -------------------------------------------------------------------


def inject(stack: LoopStack, kind: str, namespace: str, name: str) -> dt.datetime:
    """Inject the fault that ``kind`` heals; returns when it started."""
    if kind == "rollback":
        return stack.inject_bad_rollout(namespace, name)
    if kind == "restart":
        return stack.inject_leak(namespace, name, grown_mib=100)
    if kind == "scale":
        return stack.set_load(namespace, name, 110)
    return leak_oldest_pod(stack, namespace, name)


def patiently(step: Callable[[], Any], seconds: float = 120.0) -> Any:
    """Run a kubectl-based step again while the API server is away (a fault elsewhere)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def leak_oldest_pod(stack: LoopStack, namespace: str, name: str) -> dt.datetime:
    """A leak in one pod, the one a pod-level restart chooses (the oldest, none restarted)."""
    started = now()
    pods = [p for p in json.loads(stack.kubectl(
        "get", "pods", "-n", namespace, "-l", f"app={name}", "-o", "json").stdout)["items"]
        if not p["metadata"].get("deletionTimestamp") and p.get("status", {}).get("startTime")]
    oldest = min(pods, key=lambda p: p["metadata"]["creationTimestamp"])
    age = (started - dt.datetime.fromisoformat(oldest["status"]["startTime"])).total_seconds()
    stack.kubectl("annotate", "pod", oldest["metadata"]["name"], "-n", namespace, "--overwrite",
                  "demo.kubeheal.io/fault=leak",
                  f"demo.kubeheal.io/leak-mib-per-second={200 / max(age, 1.0):.4f}")
    return started


def reset(stack: LoopStack, kind: str, namespace: str, name: str, healed: bool) -> None:
    """Hand the target back healthy, as its owner would (a successful action stays)."""
    if kind == "scale":
        stack.set_load(namespace, name, 60)
        stack.kubectl("scale", "deployment", name, "-n", namespace, "--replicas=3")
    elif healed:
        pass
    elif kind == "rollback":
        stack.kubectl("patch", "deployment", name, "-n", namespace, "--type=merge", "-p",
                      json.dumps({"spec": {"template": {"metadata": {"annotations": {
                          "demo.kubeheal.io/fault": None}}}}}))
    else:  # the leak: new pods from the template, which does not leak
        stack.kubectl("rollout", "restart", "deployment", name, "-n", namespace)
    with contextlib.suppress(RuntimeError):
        stack.wait_available(namespace, name, timeout=120)


def decision_for(namespace: str, target: str) -> Callable[[str, str, bytes], bool]:
    """Hold OPA's answer to the decision about this target."""
    def rule(method: str, path: str, body: bytes) -> bool:
        if method != "POST" or "/decision" not in path:
            return False
        with contextlib.suppress(ValueError):
            wanted = json.loads(body).get("input", {}).get("target", {})
            return bool(wanted.get("namespace") == namespace and wanted.get("name") == target)
        return False
    return rule


def action_on(namespace: str, target: str) -> Callable[[str, str, bytes], bool]:
    """Hold the API server's answer to an action on this target (see hack/auditlog.py)."""
    base = f"/namespaces/{namespace}/"

    def rule(method: str, path: str, body: bytes) -> bool:
        route = path.split("?")[0]
        if method not in ("PATCH", "PUT", "POST", "DELETE") or base not in route:
            return False
        rest = route.split(base, 1)[1]
        if re.fullmatch(rf"deployments/{re.escape(target)}/scale", rest):
            return True
        if re.fullmatch(rf"deployments/{re.escape(target)}", rest):
            return method in ("PATCH", "PUT") and _changes_spec(body)
        if (m := re.fullmatch(r"pods/([^/]+)(/eviction)?", rest)) and pod_of(m[1], target):
            return (method == "DELETE" and not m[2]) or (method == "POST" and bool(m[2]))
        return bool(re.fullmatch(r"horizontalpodautoscalers/[^/]+", rest)) \
            and method in ("PATCH", "PUT")
    return rule


def _changes_spec(body: bytes) -> bool:
    try:
        patch = json.loads(body)
    except ValueError:
        return True
    if isinstance(patch, list):
        return any(not str(op.get("path", "")).startswith("/metadata") for op in patch)
    return not isinstance(patch, dict) or any(k not in ("metadata", "apiVersion", "kind")
                                              for k in patch)


def _newest(bodies: list[Json], run: Run) -> Json | None:
    mine = [b for b in bodies if b["metadata"]["namespace"] == run.namespace
            and b["spec"]["target"]["name"] == run.target
            and created(b) >= run.started.replace(microsecond=0)]
    return max(mine, key=created) if mine else None


def _yaml(path: Path) -> Json:
    import yaml

    loaded: Json = yaml.safe_load(path.read_text())
    return loaded


def relaxed_policies(into: Path) -> Path:
    """The shipped policies with the rate limits and cooldown lifted."""
    target = into / "policies"
    shutil.copytree(ROOT / "policies", target)
    data_file = target / "kubeheal" / "config" / "data.json"
    data = json.loads(data_file.read_text())
    data["rateLimit"].update(perTargetPerHour=100_000, perNamespacePerHour=100_000,
                             cooldownSeconds=0)
    data["approval"]["failedLastDayThreshold"] = 100_000
    data_file.write_text(json.dumps(data, indent=2))
    return target


# -- the report -------------------------------------------------------------------------------


def report(chaos: Chaos) -> str:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    finished = [run for run in chaos.runs if run.ended is not None]
    evidence = {id(run): chaos.evaluate(run) for run in finished}
    for run in finished:
        seen: set[tuple[str, str]] = set()
        for fault in run.faults or [Fault("none", "-", "-")]:
            key = (fault.kind + (" (collateral)" if fault.collateral else ""), fault.hit)
            row = rows.setdefault(key, {"faults": 0, "runs": 0, "expected": 0, "observed": 0,
                                        "completed": 0, "ttr": []})
            row["faults"] += 1
            if key in seen:
                continue
            seen.add(key)
            row["runs"] += 1
            row["expected"] += run.expected
            row["observed"] += evidence[id(run)][0]
            row["completed"] += run.outcome == "Succeeded"
            if run.recovered_after is not None:
                row["ttr"].append(run.recovered_after)
    order = ["none", "operator-kill", *INFRA]
    lines = [f"{'fault':<32} {'phase':<13} {'faults':>6} {'runs':>5} {'expected':>8} "
             f"{'observed':>8} {'completed':>9} {'TTR p50 s':>9} {'TTR max s':>9}"]
    ranks = ("detect", *PHASES, "approval", "after-end", "missed", "-")
    for (kind, hit), row in sorted(rows.items(), key=lambda kv: (
            order.index(kv[0][0].split(" ")[0]), "(collateral)" in kv[0][0],
            ranks.index(kv[0][1]) if kv[0][1] in ranks else len(ranks))):
        ttr = row["ttr"]
        lines.append(
            f"{kind:<32} {hit:<13} {row['faults']:>6} {row['runs']:>5} {row['expected']:>8} "
            f"{row['observed']:>8} {row['completed']:>4}/{row['runs']:<4} "
            f"{(f'{statistics.median(ttr):.0f}' if ttr else '-'):>9} "
            f"{(f'{max(ttr):.0f}' if ttr else '-'):>9}")
    expected = sum(run.expected for run in finished)
    observed = sum(evidence[id(run)][0] for run in finished)
    double = sum(max(0, evidence[id(run)][0] - run.expected) for run in finished)
    missing = sum(max(0, run.expected - evidence[id(run)][0]) for run in finished)
    blind = sum(evidence[id(run)][1] for run in finished)
    done = sum(run.outcome == "Succeeded" for run in finished)
    outside = chaos.unattributed(finished)
    mismatched = [run for run in finished if evidence[id(run)][0] != run.expected]
    kills_by_phase: dict[str, int] = {}
    for run in finished:
        for fault in run.faults:
            if fault.kind == "operator-kill" and not fault.collateral:
                kills_by_phase[fault.hit] = kills_by_phase.get(fault.hit, 0) + 1
    lines += [
        "",
        f"runs {len(finished)}, operator SIGKILLs {chaos.kills} (by phase hit: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kills_by_phase.items())) + ")",
        f"actions expected {expected}, observed in the audit log {observed}; "
        f"double actions {double}; missing actions {missing}; actions on missing data {blind}",
        f"actions outside every run's window (no fault injected): {len(outside)}"
        + "".join(f"\n  {a.time:%H:%M:%S} {a.verb} {a.resource} {a.namespace}/{a.name}"
                  for a in outside),
        f"remediations completed {done}/{len(finished)}; "
        + ", ".join(f"{run.kind} {run.target}: {run.outcome}" for run in finished
                    if run.outcome != "Succeeded"),
    ]
    for run in mismatched:
        lines.append(
            f"mismatch: {run.kind} {run.namespace}/{run.target} from {run.started:%H:%M:%S}: "
            f"expected {run.expected}, observed "
            + ", ".join(f"{a.time:%H:%M:%S.%f} {a.verb} {a.resource} {a.name}"
                        for a in chaos.actions(run))
            + "; remediations " + ", ".join(
                f"{r['metadata']['name']} {phase_of(r)} "
                f"{[e.get('outcome') for e in (r.get('status') or {}).get('executions', [])]}"
                for r in run.remediations))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="operator SIGKILLs, at least")
    parser.add_argument("--infra", type=int, default=1,
                        help="runs per infrastructure fault kind (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", type=int, default=3, help="workloads per action kind")
    parser.add_argument("--kinds", default=",".join(KINDS), help="action kinds, comma-separated")
    parser.add_argument("--rest", type=float, default=45.0,
                        help="seconds a healed workload rests before its next fault")
    parser.add_argument("--minutes", type=float, default=90.0, help="stop after this long")
    parser.add_argument("--dir", help="keep the stack's files here (default: a temp dir)")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="kubeheal-chaos-"))
    stack = LoopStack(root, [f"chaos-{kind}" for kind in kinds])
    print(f"chaos: seed {args.seed}, kills >= {args.kills}, kinds {kinds}, stack in {root}",
          flush=True)
    stack.start()
    try:
        targets = {k: [f"{PREFIX[k]}-{i}" for i in range(args.targets)] for k in kinds}
        for kind in kinds:
            stack.apply(f"chaos-{kind}", *(demo_deployment(t) for t in targets[kind]))
        deployed = time.monotonic()
        stack.start_operator()  # as LoopStack runs it: its identity is the operator's user
        chaos = Chaos(stack, args, relaxed_policies(root))
        if stack.operator is not None:
            stack.operator.stop()
        chaos.start_operator()
        print(f"operator user {chaos.user}; audit log {stack.cluster.audit_log}", flush=True)
        if "scale" in kinds:  # saturation is told from load against a healthy history
            time.sleep(max(0.0, 120 - (time.monotonic() - deployed)))
        for kind in kinds:
            for target in targets[kind]:
                stack.watch(f"chaos-{kind}", target, actions=ACTIONS[kind], **RUNBOOK)
        lanes = [threading.Thread(target=chaos.lane, args=(kind, targets[kind]), daemon=True)
                 for kind in kinds]
        for lane in lanes:
            lane.start()
        try:
            for lane in lanes:
                lane.join()
        except KeyboardInterrupt:  # the runs finished so far still make a report
            print("interrupted: reporting the finished runs", flush=True)
        print()
        print(f"command: {' '.join(sys.argv)}")
        print(report(chaos))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
