"""The Helm chart: it lints and renders, its copies are fresh, it installs into a real API
server, and the identity it gives the operator can do its job and nothing more."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from localstack import Cluster, binary

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "chart"
Json = dict[str, Any]

# Namespace-scoped, with the Prometheus Operator's objects, one replica without leader election,
# notifications to the receivers of a Secret.
NAMESPACED = ("--set", "scope=namespaced", "--set", "watchNamespaces={team-a,team-b}",
              "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
              "--set", "grafanaDashboard.enabled=true", "--set", "leaderElection.enabled=false",
              "--set", "replicas=1", "--set", "notifications.secretName=team-receivers")


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True,
         ) -> subprocess.CompletedProcess[str]:
    config = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
    result = subprocess.run([binary("helm"), *args, *config], capture_output=True, text=True,
                            timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {result.stderr}")
    return result


def render(*values: str, namespace: str = "kubeheal-system") -> list[Json]:
    out = helm("template", "kubeheal", str(CHART), "-n", namespace, *values).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(docs: Sequence[Json], kind: str, name: str | None = None) -> list[Json]:
    return [d for d in docs
            if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def operator_rules(docs: Sequence[Json]) -> list[Json]:
    (role,) = find(docs, "ClusterRole", "kubeheal-operator")
    rules: list[Json] = role["rules"]
    return rules


# -- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [(), NAMESPACED], ids=["default", "namespaced"])
def test_chart_lints(values: tuple[str, ...]) -> None:
    result = helm("lint", "--strict", str(CHART), *values)
    assert "0 chart(s) failed" in result.stdout


def test_default_render_is_a_hardened_cluster_wide_operator() -> None:
    docs = render()
    (deployment,) = find(docs, "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"operator", "opa"}
    for container in containers.values():
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"requests", "limits"} <= set(container["resources"])
        assert container["livenessProbe"] and container["readinessProbe"]
    operator = containers["operator"]
    assert operator["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"--leader-election", "--lease-name=kubeheal"} <= set(operator["args"])
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
           for e in operator["env"]}
    assert env["KUBEHEAL_IDENTITY"] == "metadata.name"
    assert env["KUBEHEAL_LEASE_NAMESPACE"] == "metadata.namespace"
    assert "--addr=127.0.0.1:8181" in containers["opa"]["args"]
    assert find(docs, "ClusterRoleBinding", "kubeheal-operator")
    # The only namespaced grant: the Lease, in the release's namespace.
    (binding,) = find(docs, "RoleBinding")
    assert binding["metadata"]["namespace"] == "kubeheal-system"
    (lease_role,) = find(docs, "Role", "kubeheal-leader-election")
    assert lease_role["metadata"]["namespace"] == "kubeheal-system"
    assert [(r["resources"], r.get("resourceNames"), sorted(r["verbs"]))
            for r in lease_role["rules"]] == [(["leases"], None, ["create"]),
                                              (["leases"], ["kubeheal"], ["get", "update"])]
    assert not any(d["apiVersion"].startswith("kopf.dev") for d in docs)
    for kind in ("ServiceAccount", "Service", "NetworkPolicy", "ConfigMap",
                 "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        assert find(docs, kind), kind
    assert find(docs, "ClusterRole", "kubeheal-approver")
    (explainer,) = find(docs, "ClusterRole", "kubeheal-explainer")
    assert [(r["resources"], sorted(r["verbs"])) for r in explainer["rules"]] == [
        (["explanationrequests"], ["create", "delete", "get"]),
        (["runbooks", "remediations"], ["get", "list"])]
    assert not find(docs, "ServiceMonitor") and not find(docs, "PrometheusRule")
    verbs = {(group, resource): set(rule["verbs"]) for rule in operator_rules(docs)
             for group in rule["apiGroups"] for resource in rule["resources"]}
    assert ("", "secrets") not in verbs
    assert all("approve" not in v and "*" not in v for v in verbs.values())
    assert not any(group == "kopf.dev" for group, _ in verbs)
    # Leases only through the leader-election Role: none in the operator's ClusterRole.
    assert not any(group == "coordination.k8s.io" for group, _ in verbs)
    assert verbs["kubeheal.io", "incidentclaims"] == {"get", "list", "create", "update",
                                                      "delete"}
    # kubeheal explain: answers, and asks first what the requester may read.
    assert verbs["kubeheal.io", "explanationrequests/status"] == {"get", "patch"}
    assert verbs["authorization.k8s.io", "localsubjectaccessreviews"] == {"create"}


def test_namespaced_render_binds_only_the_watched_namespaces() -> None:
    docs = render(*NAMESPACED)
    (deployment,) = find(docs, "Deployment")
    operator = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in operator["env"]}
    assert env["KUBEHEAL_NAMESPACES"] == "team-a,team-b"
    assert not any(a.startswith("--lease") or a == "--leader-election" for a in operator["args"])
    assert not find(docs, "ClusterRoleBinding") and not find(docs, "Role")
    assert sorted(b["metadata"]["namespace"] for b in find(docs, "RoleBinding")) == \
        ["team-a", "team-b"]
    rules = operator_rules(docs)
    assert not {r for rule in rules for r in rule["resources"]} & {"customresourcedefinitions"}
    # Incident claims are kubeheal's own kind: no Lease at all (leader election is off here).
    assert not any("coordination.k8s.io" in rule["apiGroups"] for rule in rules)
    assert {v for rule in rules if "incidentclaims" in rule["resources"]
            for v in rule["verbs"]} == {"get", "list", "create", "update", "delete"}
    assert find(docs, "ServiceMonitor") and find(docs, "PrometheusRule")
    (dashboard,) = find(docs, "ConfigMap", "kubeheal-dashboard")
    assert json.loads(dashboard["data"]["kubeheal.json"])["panels"]


def test_gitops_owners_may_be_suspended_only_when_enabled() -> None:
    default = render()
    assert not [d for d in default if d["metadata"]["name"].endswith("-gitops")]
    (deployment,) = find(default, "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"][
        "containers"][0]["env"]}
    assert env["KUBEHEAL_ARGOCD_NAMESPACE"] == "argocd"
    assert env["KUBEHEAL_ARGOCD_TRACKING_LABEL"] == "app.kubernetes.io/instance"
    docs = render("--set", "gitops.enabled=true")
    (role,) = find(docs, "ClusterRole", "kubeheal-operator-gitops")
    assert {(g, r): sorted(rule["verbs"]) for rule in role["rules"]
            for g in rule["apiGroups"] for r in rule["resources"]} == {
        ("argoproj.io", "applications"): ["get", "patch"],
        ("kustomize.toolkit.fluxcd.io", "kustomizations"): ["get", "patch"],
        ("helm.toolkit.fluxcd.io", "helmreleases"): ["get", "patch"]}
    (binding,) = find(docs, "ClusterRoleBinding", "kubeheal-operator-gitops")
    assert binding["roleRef"]["name"] == "kubeheal-operator-gitops"
    assert binding["subjects"][0]["name"] == "kubeheal-operator"
    namespaced = render(*NAMESPACED, "--set", "gitops.enabled=true",
                        "--set", "gitops.namespaces={gitops}")
    assert not find(namespaced, "ClusterRoleBinding")
    assert [b["metadata"]["namespace"] for b in namespaced if b["kind"] == "RoleBinding"
            and b["metadata"]["name"].endswith("-gitops")] == ["gitops"]


def test_notification_receivers_come_from_a_secret_the_kubelet_reads() -> None:
    def notify_env(*values: str) -> dict[str, Json]:
        (deployment,) = find(render(*values), "Deployment")
        (operator,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                       if c["name"] == "operator"]
        return {e["name"]: e.get("valueFrom") for e in operator["env"]
                if e["name"].startswith("KUBEHEAL_NOTIFY")}

    assert notify_env() == {}
    assert notify_env("--set", "notifications.secretName=receivers",
                      "--set", "notifications.slackKey=slack") == {
        "KUBEHEAL_NOTIFY_WEBHOOK_URL": {"secretKeyRef": {
            "name": "receivers", "key": "webhook-url", "optional": True}},
        "KUBEHEAL_NOTIFY_SLACK_URL": {"secretKeyRef": {
            "name": "receivers", "key": "slack", "optional": True}},
    }


def test_the_alert_receiver_is_served_behind_a_service_with_its_token_from_a_secret() -> None:
    assert not find(render(), "Service", "kubeheal-alerts")
    docs = render("--set", "alertReceiver.enabled=true",
                  "--set", "alertReceiver.tokenSecretName=am-token",
                  "--set", "networkPolicy.enabled=true")
    (service,) = find(docs, "Service", "kubeheal-alerts")
    assert service["spec"]["ports"] == [
        {"name": "alerts", "port": 9095, "targetPort": "alerts", "protocol": "TCP"}]
    (deployment,) = find(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (operator,) = [c for c in pod["containers"] if c["name"] == "operator"]
    env = {e["name"]: e.get("value") for e in operator["env"]}
    assert env["KUBEHEAL_ALERTS_PORT"] == "9095"
    assert env["KUBEHEAL_ALERTS_TOKEN_FILE"] == "/etc/kubeheal/alerts/token"
    assert {"name": "alerts", "containerPort": 9095, "protocol": "TCP"} in operator["ports"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "alert-token"]
    assert volume["secret"] == {"secretName": "am-token",
                                "items": [{"key": "token", "path": "token"}]}
    (policy,) = find(docs, "NetworkPolicy")
    assert any(port["port"] == "alerts" for rule in policy["spec"]["ingress"]
               for port in rule["ports"])
    unnamed = helm("template", "kubeheal", str(CHART), "--set", "alertReceiver.enabled=true",
                   check=False)
    assert unnamed.returncode != 0 and "alertReceiver.tokenSecretName" in unnamed.stderr


@pytest.mark.parametrize("values, message", [
    (("--set", "scope=everywhere"), "/scope"),
    (("--set", "replicas=2", "--set", "leaderElection.enabled=false"),
     "/leaderElection/enabled"),
    (("--set", "prometheus.url=prometheus:9090"), "/prometheus/url"),
    (("--set", "watchNamespaces={Team_A}"), "/watchNamespaces/0"),
    (("--set", "metricsPort=0"), "/metricsPort"),
    (("--set", "unknown=1"), "unknown"),
    (("--set", "notifications.secretName=Team_Receivers"), "/notifications/secretName"),
    (("--set", "alertReceiver.port=0"), "/alertReceiver/port"),
], ids=["scope", "replicas-without-leader-election", "url", "namespace", "port", "unknown-key",
        "secret-name", "alert-receiver-port"])
def test_schema_rejects_bad_values(values: tuple[str, ...], message: str) -> None:
    result = helm("template", "kubeheal", str(CHART), *values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_every_value_is_documented_and_in_the_schema() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = [line for before, line in itertools.pairwise(lines)
                    if line.strip() and not line.lstrip().startswith("#")
                    and not before.lstrip().startswith("#")]
    assert not undocumented
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"])


def test_chart_copies_are_what_make_chart_writes() -> None:
    """`make chart` copies CRDs, the admission policy, RBAC and policies; none is stale."""
    stale = "deploy/chart is stale: run `make chart`"
    for source in sorted((ROOT / "crds").glob("*.yaml")):
        assert (CHART / "crds" / source.name).read_text() == source.read_text(), stale
    extra = {p.name for p in (CHART / "crds").glob("*.yaml")} - \
        {p.name for p in (ROOT / "crds").glob("*.yaml")}
    assert not extra, stale
    for folder in ("admission", "rbac"):
        sources = sorted((ROOT / "deploy" / folder).glob("*.yaml"))
        copies = sorted((CHART / "files" / folder).glob("*.yaml"))
        assert [p.name for p in copies] == [p.name for p in sources], stale
        for source in sources:
            assert (CHART / "files" / folder / source.name).read_text() == source.read_text()
    # The rendered ConfigMap holds policies/ (tests excepted), mounted back at the same paths.
    policies = ROOT / "policies"
    expected = {p.relative_to(policies).as_posix(): p.read_text()
                for p in policies.rglob("*")
                if p.is_file() and (p.name == "data.json" or (
                    p.suffix == ".rego" and not p.name.endswith("_test.rego")))}
    docs = render()
    (configmap,) = find(docs, "ConfigMap", "kubeheal-policies")
    (deployment,) = find(docs, "Deployment")
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"]
                 if v["name"] == "policies"]
    mounted = {item["path"]: configmap["data"][item["key"]]
               for item in volume["configMap"]["items"]}
    assert mounted == expected, stale
    assert set(configmap["data"]) == {item["key"] for item in volume["configMap"]["items"]}


# -- on the API server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two releases: cluster-wide in kubeheal-system; namespace-scoped in team-a for team-a.

    On a cluster of their own: the chart owns cluster-scoped objects (the approval policy, the
    approver role) that other tests of the session apply without Helm.
    """
    cluster = Cluster(tmp_path_factory.mktemp("chart-cluster"))
    cluster.start()
    try:
        yield from _releases(cluster)
    finally:
        cluster.stop()


def _releases(cluster: Cluster) -> Iterator[Cluster]:
    for namespace in ("kubeheal-system", "team-a", "team-b"):
        cluster.kubectl("create", "namespace", namespace)
    helm("install", "kubeheal", str(CHART), "-n", "kubeheal-system", "--set",
         "admission.extraOperators={system:serviceaccount:team-a:team-kubeheal-operator}",
         kubeconfig=cluster.kubeconfig)
    # One admission policy, approver and explainer role per cluster: the second release
    # leaves them out.
    helm("install", "team", str(CHART), "-n", "team-a", "--skip-crds",
         "--set", "scope=namespaced", "--set", "admission.enabled=false",
         "--set", "approverRole.enabled=false", "--set", "explainerRole.enabled=false",
         kubeconfig=cluster.kubeconfig)
    yield cluster
    for release, namespace in (("team", "team-a"), ("kubeheal", "kubeheal-system")):
        helm("uninstall", release, "-n", namespace, kubeconfig=cluster.kubeconfig, check=False)


@pytest.mark.parametrize("release, namespace", [("kubeheal", "kubeheal-system"),
                                                ("team", "team-a")])
def test_every_object_of_a_release_exists(installed: Cluster, release: str,
                                          namespace: str) -> None:
    manifest = helm("get", "manifest", release, "-n", namespace,
                    kubeconfig=installed.kubeconfig).stdout
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    assert len(docs) >= 8
    for doc in docs:
        meta = doc["metadata"]
        where = ["-n", meta["namespace"]] if "namespace" in meta else []
        group = doc["apiVersion"].rpartition("/")[0]
        kind = f"{doc['kind']}.{group}" if group else doc["kind"]
        installed.kubectl("get", kind, meta["name"], *where)
    # And the API server finds nothing to object to, not even an unknown field.
    installed.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                      input=manifest)


def test_non_default_render_passes_server_side_validation(installed: Cluster) -> None:
    """The namespace-scoped variant, less the Prometheus Operator's kinds (no CRDs here)."""
    docs = [d for d in render(*NAMESPACED) if d["kind"] not in ("ServiceMonitor",
                                                                 "PrometheusRule")]
    installed.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                      input="\n---\n".join(yaml.safe_dump(d) for d in docs))


def token_kubeconfig(cluster: Cluster, namespace: str, account: str) -> Path:
    """A kubeconfig with a TokenRequest token of the ServiceAccount."""
    token = cluster.kubectl("create", "token", account, "-n", namespace,
                            "--duration=1h").stdout.strip()
    return cluster.kubeconfig_for(f"{namespace}-{account}", token)


def run_as(kubeconfig: Path, *args: str, input: str | None = None,
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("kubectl"), f"--kubeconfig={kubeconfig}", *args],
                          capture_output=True, text=True, timeout=60, input=input)


def can_i(kubeconfig: Path, *args: str) -> bool:
    result = run_as(kubeconfig, "auth", "can-i", *args)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr
    return answer == "yes"


CAN = [
    ("get", "deployments.apps"), ("patch", "deployments.apps"), ("list", "replicasets.apps"),
    ("create", "pods", "--subresource=eviction"),
    ("patch", "horizontalpodautoscalers.autoscaling"),
    ("create", "events"), ("list", "events"), ("watch", "runbooks.kubeheal.io"),
    ("create", "remediations.kubeheal.io"), ("patch", "remediations.kubeheal.io"),
    ("delete", "remediations.kubeheal.io"),
    ("patch", "remediations.kubeheal.io", "--subresource=status"),
    ("patch", "runbooks.kubeheal.io", "--subresource=status"),
    ("patch", "servicelevelobjectives.kubeheal.io", "--subresource=status"),
    ("get", "incidentclaims.kubeheal.io"), ("create", "incidentclaims.kubeheal.io"),
    ("update", "incidentclaims.kubeheal.io"), ("delete", "incidentclaims.kubeheal.io"),
]
CANNOT = [
    ("get", "secrets"), ("list", "secrets"), ("approve", "remediations.kubeheal.io"),
    ("update", "remediations.kubeheal.io"),
    ("delete", "deployments.apps"), ("delete", "pods"), ("create", "pods"),
    ("create", "pods", "--subresource=exec"),
    ("update", "deployments.apps", "--subresource=scale"), ("list", "configmaps"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("patch", "incidentclaims.kubeheal.io"),
]


def test_cluster_wide_identity_does_its_job_and_no_more(installed: Cluster) -> None:
    config = token_kubeconfig(installed, "kubeheal-system", "kubeheal-operator")
    for namespace in ("team-b", "default"):
        for check in CAN:
            assert can_i(config, *check, "-n", namespace), (check, namespace)
        for check in CANNOT:
            assert not can_i(config, *check, "-n", namespace), (check, namespace)
    # The Lease: its own, in its own namespace, and no more.
    assert can_i(config, "create", "leases.coordination.k8s.io", "-n", "kubeheal-system")
    for verb in ("get", "update"):
        assert can_i(config, verb, "leases.coordination.k8s.io/kubeheal", "-n", "kubeheal-system")
        assert not can_i(config, verb, "leases.coordination.k8s.io/other", "-n",
                         "kubeheal-system")
    assert not can_i(config, "delete", "leases.coordination.k8s.io/kubeheal", "-n",
                     "kubeheal-system")
    assert not can_i(config, "create", "leases.coordination.k8s.io", "-n", "team-b")
    # No other Lease anywhere: the control plane's leader-election Leases are out of reach.
    for namespace in ("team-b", "default", "kube-system"):
        for verb in ("get", "list", "create", "update", "delete"):
            assert not can_i(config, verb, "leases.coordination.k8s.io", "-n", namespace), \
                (verb, namespace)
    for verb in ("get", "update"):
        assert not can_i(config, verb, "leases.coordination.k8s.io/kube-scheduler", "-n",
                         "kube-system")
    assert can_i(config, "watch", "customresourcedefinitions.apiextensions.k8s.io")
    assert not can_i(config, "get", "secrets", "-n", "kubeheal-system")
    assert not can_i(config, "list", "secrets", "--all-namespaces")
    assert not can_i(config, "patch", "namespaces")


def test_namespaced_identity_stays_in_its_namespace(installed: Cluster) -> None:
    config = token_kubeconfig(installed, "team-a", "team-kubeheal-operator")
    for check in CAN:
        assert can_i(config, *check, "-n", "team-a"), check
    for check in CANNOT:
        assert not can_i(config, *check, "-n", "team-a"), check
    # The namespace's tier label feeds the risk score: its own namespace object is readable.
    assert can_i(config, "get", "namespaces/team-a", "-n", "team-a")
    assert run_as(config, "get", "namespace", "team-a").returncode == 0
    assert run_as(config, "get", "namespace", "team-b").returncode != 0
    assert can_i(config, "update", "leases.coordination.k8s.io/team-kubeheal", "-n", "team-a")
    for outside in (("list", "deployments.apps", "-n", "team-b"),
                    ("patch", "deployments.apps", "-n", "kubeheal-system"),
                    ("list", "deployments.apps", "--all-namespaces"),
                    ("watch", "runbooks.kubeheal.io", "--all-namespaces"),
                    ("get", "namespaces/team-b", "-n", "team-b"), ("list", "namespaces"),
                    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
                    ("update", "leases.coordination.k8s.io/team-kubeheal", "-n", "team-b")):
        assert not can_i(config, *outside), outside


def test_the_operator_cannot_approve_its_own_remediation(installed: Cluster) -> None:
    """Not only lacking the verb: the API server's admission policy rejects the write."""
    config = token_kubeconfig(installed, "kubeheal-system", "kubeheal-operator")
    created = run_as(config, "create", "-f", "-", input=json.dumps({
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": "checkout-1", "namespace": "team-b"},
        "spec": {"runbookRef": {"name": "checkout"},
                 "target": {"namespace": "team-b", "name": "checkout"},
                 "trigger": {"startedAt": "2026-11-28T10:00:00Z",
                             "detectedAt": "2026-11-28T10:00:10Z", "score": 0.99},
                 "diagnosis": {"cause": "change"}},
    }))
    assert created.returncode == 0, created.stderr
    me = "system:serviceaccount:kubeheal-system:kubeheal-operator"
    patch = {"spec": {"approvals": [{"digest": "a" * 64, "decision": "approved",
                                     "approver": me, "time": "2026-11-28T10:05:00Z"}]}}
    result = run_as(config, "patch", "remediation", "checkout-1", "-n", "team-b",
                    "--type=merge", "-p", json.dumps(patch))
    assert result.returncode != 0
    assert 'the RBAC verb "approve"' in result.stderr


def test_only_the_operators_open_incidents(installed: Cluster) -> None:
    """Each release's operator may open a Remediation and claim its workload (the second one
    named in the first's admission.extraOperators); a cluster administrator may not."""
    body = {"apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
            "metadata": {"name": "web-1", "namespace": "team-a"},
            "spec": {"runbookRef": {"name": "web"},
                     "target": {"namespace": "team-a", "name": "web"},
                     "trigger": {"startedAt": "2026-11-28T10:00:00Z",
                                 "detectedAt": "2026-11-28T10:00:10Z", "score": 0.99},
                     "diagnosis": {"cause": "change"}}}
    refused = installed.kubectl("create", "-f", "-", input=json.dumps(body), check=False)
    assert refused.returncode != 0
    assert 'remediations are opened by kubeheal only: user "admin" is not the kubeheal ' \
        "operator" in refused.stderr
    team = token_kubeconfig(installed, "team-a", "team-kubeheal-operator")
    created = run_as(team, "create", "-f", "-", input=json.dumps(body))
    assert created.returncode == 0, created.stderr
    # And the claims that name them.
    claim = {"apiVersion": "kubeheal.io/v1alpha1", "kind": "IncidentClaim",
             "metadata": {"name": "kubeheal-incident-deployment-web", "namespace": "team-a"},
             "spec": {"workload": "web", "holder": "web-1", "sequence": 1, "runbook": "web"}}
    refused = installed.kubectl("create", "-f", "-", input=json.dumps(claim), check=False)
    assert refused.returncode != 0
    assert 'incident claims are written by kubeheal only: user "admin"' in refused.stderr
    created = run_as(team, "create", "-f", "-", input=json.dumps(claim))
    assert created.returncode == 0, created.stderr
