#!/usr/bin/env bash
# Everything kubeheal's tests and demo need on a fresh machine, installed once and cached:
# Debian packages (Prometheus, openssl), the Go-built stack binaries, and a Python venv with
# the package and its dev tools. A warm run checks stamps and installs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${KUBEHEAL_CACHE:-$HOME/.cache/kubeheal}
venv=${KUBEHEAL_VENV:-$cache/venv}
log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
command -v prometheus >/dev/null || [[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
[[ -x /usr/bin/prometheus-alertmanager ]] || missing+=(prometheus-alertmanager)
command -v openssl >/dev/null || missing+=(openssl)
command -v go >/dev/null || missing+=(golang-go)
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package may start its own Prometheus; the stack runs its own on a free port.
if command -v service >/dev/null && pgrep -f '^/usr/bin/prometheus$' >/dev/null 2>&1; then
  service prometheus stop >/dev/null 2>&1 || true
fi
# Likewise its Alertmanager: the tests that need one start their own.
if command -v service >/dev/null && pgrep -f '^/usr/bin/prometheus-alertmanager' >/dev/null 2>&1; then
  service prometheus-alertmanager stop >/dev/null 2>&1 || true
fi

"$here/build-stack.sh"

stamp=$venv/.kubeheal-setup
# The editable install points at this checkout: a new checkout or pyproject reinstalls.
want=$( (cat "$repo/pyproject.toml"; echo "$repo") | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  log "creating the Python environment in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -e "$repo[dev]"
  echo "$want" >"$stamp"
fi
log "ready: $venv/bin/python, binaries in $cache/bin"
