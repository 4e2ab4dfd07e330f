#!/usr/bin/env bash
# Builds the local stack's binaries from their Go module sources into a cache outside the
# repository, once per pinned version: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok, opa and helm. A warm run finds every stamp and builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${KUBEHEAL_CACHE:-$HOME/.cache/kubeheal}
bin=$cache/bin
work=$cache/build
mkdir -p "$bin" "$work"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

fresh() { # fresh NAME VERSION: true when BIN/NAME was built from VERSION
  [[ -x $bin/$1 && -f $bin/.$1.version && $(cat "$bin/.$1.version") == "$2" ]]
}
stamp() { echo "$2" >"$bin/.$1.version"; }
log() { printf '[build-stack] %s\n' "$*" >&2; }

build_kubernetes() {
  local v=$KUBERNETES_VERSION n names=()
  for n in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    fresh "$n" "$v" || names+=("$n")
  done
  ((${#names[@]})) || return 0
  log "building Kubernetes $v: ${names[*]} (first time only: about 10 min on 2 cores)"
  local dir=$work/kubernetes-$v staging minor=${v#v1.}
  minor=${minor%%.*}
  mkdir -p "$dir"
  # k8s.io/kubernetes replaces its staging modules with local paths, which only count in
  # the main module: this wrapper replaces each one with its published v0.X.Y instead.
  staging=$(go mod download -json "k8s.io/kubernetes@$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module kubeheal.local/controlplane"
    echo
    echo "go 1.25"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    sed -n '/^replace (/,/^)/p' "$staging" | grep -oE '^\s*k8s\.io/[a-z0-9-]+' | sort -u |
      while read -r m; do echo "    $m => $m v0.${v#v1.}"; done
    echo ")"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (cd "$dir" && go mod tidy)
  for n in "${names[@]}"; do
    (cd "$dir" && go build -ldflags "$ldflags" -o "$bin/$n" "k8s.io/kubernetes/cmd/$n")
    stamp "$n" "$v"
  done
}

build_etcd() {
  fresh etcd "$ETCD_VERSION" && return 0
  log "building etcd $ETCD_VERSION"
  local dir=$work/etcd-$ETCD_VERSION
  mkdir -p "$dir"
  printf 'module kubeheal.local/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$dir/go.mod"
  cat >"$dir/main.go" <<'GO'
// Command etcd runs the etcd server from its published module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go mod tidy && go build -ldflags "-s -w" -o "$bin/etcd" .)
  stamp etcd "$ETCD_VERSION"
}

go_install() { # go_install NAME PACKAGE VERSION
  fresh "$1" "$3" && return 0
  log "building $1 $3"
  GOBIN=$bin go install -ldflags "-s -w ${4:-}" "$2@$3"
  stamp "$1" "$3"
}

kwok_stages() { # kwok's default lifecycle stages (what kwokctl feeds it), from its module
  [[ -f $bin/kwok-stages.yaml ]] && fresh kwok "$KWOK_VERSION" && return 0
  local dir
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  local stage
  for stage in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
    pod/fast/pod-complete pod/fast/pod-delete; do
    cat "$dir/kustomize/stage/$stage.yaml"
    echo "---"
  done >"$bin/kwok-stages.yaml"
}

build_etcd
go_install opa github.com/open-policy-agent/opa "$OPA_VERSION" "-X github.com/open-policy-agent/opa/v1/version.Version=${OPA_VERSION#v}"
go_install kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION"
kwok_stages
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
build_kubernetes
log "binaries ready in $bin"
