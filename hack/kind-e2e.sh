#!/usr/bin/env bash
# The bad-rollout scenario on kind, for users with Docker (`make kind-e2e`). It mirrors
# tests/e2e/test_bad_rollout.py on the local stack step by step: a cluster; kubeheal (here: the
# Helm chart, with its OPA sidecar); the demo service and a Prometheus scraping it every 5 s;
# the demo workload, SLO and runbook; warm-up; a bad build rolled out; then a Remediation that
# should roll it back and verify recovery against the SLO. Prints the remediation's timeline.
# Needs docker, kind, kubectl and helm on PATH. The cluster is left running for a look around:
# delete it with `kind delete cluster --name kubeheal`.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-kubeheal}
IMAGE=${IMAGE:-kubeheal:dev}
NS=shop
for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null || { echo "kind-e2e: $tool not found on PATH" >&2; exit 2; }
done
step() { printf '\n== %s\n' "$*"; }
# wait_for WHAT SECONDS COMMAND...: poll COMMAND every 2 s until it succeeds.
wait_for() {
    local what=$1 seconds=$2; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { echo "kind-e2e: timed out waiting for $what" >&2; exit 1; }
        sleep 2
    done
}

step "1. the cluster: kind $CLUSTER (kind-config.yaml)"
kind get clusters 2>/dev/null | grep -qx "$CLUSTER" \
    || kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
kubectl config use-context "kind-$CLUSTER"

step "2. the image $IMAGE, loaded into the nodes"
make --no-print-directory image IMAGE="$IMAGE"
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "3. the demo namespace and a minimal Prometheus (scraping the demo and kubeheal every 5 s)"
kubectl apply -f deploy/demo/00-namespace.yaml
kubectl create namespace monitoring --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n monitoring -f - <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus}
data:
  prometheus.yml: |
    global: {scrape_interval: 5s, evaluation_interval: 5s}
    scrape_configs:
      - job_name: demo
        static_configs: [{targets: ["demo.monitoring.svc:9100"]}]
      - job_name: kubeheal
        static_configs: [{targets: ["kubeheal-metrics.kubeheal-system.svc:8080"]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus}
spec:
  selector: {matchLabels: {app: prometheus}}
  template:
    metadata: {labels: {app: prometheus}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: prometheus
          image: prom/prometheus:v3.5.0
          args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/prometheus]
          ports: [{containerPort: 9090}]
          readinessProbe: {httpGet: {path: /-/ready, port: 9090}}
          volumeMounts:
            - {name: config, mountPath: /etc/prometheus}
            - {name: data, mountPath: /prometheus}
      volumes:
        - {name: config, configMap: {name: prometheus}}
        - {name: data, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: prometheus}
spec:
  selector: {app: prometheus}
  ports: [{port: 9090, targetPort: 9090}]
EOF

step "4. the demo service: simulates the shop's demo pods and serves their metrics"
# It lists Deployments, StatefulSets and pods across the cluster (three LISTs per poll, kept
# to the namespaces it is given) and writes the OOM kills it simulates (a pod's status and an
# Event), with a kubeconfig over its own token.
kubectl apply -n monitoring -f - <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: demo}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubeheal-demo-reader}
rules:
  - {apiGroups: [apps], resources: [deployments, statefulsets], verbs: [list]}
  - {apiGroups: [""], resources: [pods], verbs: [list]}
  - {apiGroups: [""], resources: [pods/status], verbs: [patch]}
  - {apiGroups: [""], resources: [events], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubeheal-demo-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubeheal-demo-reader}
subjects: [{kind: ServiceAccount, name: demo, namespace: monitoring}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: demo-kubeconfig}
data:
  kubeconfig: |
    apiVersion: v1
    kind: Config
    clusters:
      - name: in-cluster
        cluster:
          server: https://kubernetes.default.svc
          certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    users:
      - name: demo
        user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}
    contexts: [{name: demo, context: {cluster: in-cluster, user: demo}}]
    current-context: demo
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo}
spec:
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      serviceAccountName: demo
      containers:
        - name: demo
          image: $IMAGE
          imagePullPolicy: Never
          command: [python, -m, kubeheal.demo, --kubeconfig, /etc/demo/kubeconfig,
                    --namespace, $NS, --listen, 0.0.0.0, --port, "9100", --interval, "0.5"]
          ports: [{containerPort: 9100}]
          volumeMounts: [{name: kubeconfig, mountPath: /etc/demo}]
      volumes: [{name: kubeconfig, configMap: {name: demo-kubeconfig}}]
---
apiVersion: v1
kind: Service
metadata: {name: demo}
spec:
  selector: {app: demo}
  ports: [{port: 9100, targetPort: 9100}]
EOF
kubectl rollout status -n monitoring deployment/prometheus --timeout=180s
kubectl rollout status -n monitoring deployment/demo --timeout=180s

step "5. kubeheal, from the chart"
helm upgrade --install kubeheal deploy/chart -n kubeheal-system --create-namespace \
    --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" \
    --set image.pullPolicy=Never \
    --set prometheus.url=http://prometheus.monitoring.svc:9090 --wait --timeout 5m

step "6. the demo workload (pause containers: the demo service simulates their traffic), SLO, runbook"
sed 's#registry.example/checkout:1.4#registry.k8s.io/pause:3.10#' deploy/demo/10-checkout.yaml \
    | kubectl apply -n "$NS" -f -
kubectl apply -n "$NS" -f deploy/demo/20-slo.yaml -f deploy/demo/30-runbook.yaml
kubectl rollout status -n "$NS" deployment/checkout --timeout=180s

step "7. warm-up: every detector stream of the runbook ready"
warm() {
    local w
    w=$(kubectl get runbook checkout -n "$NS" \
        -o jsonpath='{.status.warmup.readyStreams}/{.status.warmup.totalStreams}')
    [[ $w =~ ^([0-9]+)/([0-9]+)$ && ${BASH_REMATCH[2]} != 0 \
        && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]]
}
wait_for "the runbook's streams to be warm" 300 warm

step "8. the fault: a bad build rolled out"
kubectl patch deployment checkout -n "$NS" --type=merge \
    -p '{"spec":{"template":{"metadata":{"annotations":{"demo.kubeheal.io/fault":"bad-build"}}}}}'

step "9. kubeheal detects, diagnoses, gates, acts and verifies"
phase() { kubectl get remediations -n "$NS" -o jsonpath='{.items[-1:].status.phase}'; }
done_() { [[ $(phase) =~ ^(Succeeded|Escalated|Blocked|DryRun)$ ]]; }
wait_for "a remediation to finish" 300 done_
kubectl get remediations -n "$NS"

step "10. the remediation's story"
kubectl get remediations -n "$NS" -o jsonpath='{range .items[-1:].status.timeline[*]}{.time}{"  "}{.step}{"  "}{.message}{"\n"}{end}'
result=$(phase)
echo
echo "kind-e2e: remediation $result"
[[ $result == Succeeded ]]
