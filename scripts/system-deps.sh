#!/usr/bin/env bash
# Installs the system packages Kairos' tests and tools need, from Debian, only when they are missing.
#   redis-server  real Redis for the Redis store and replica fan-out tests
#   promtool      (Debian package "prometheus") validates and unit-tests the Prometheus rules
#   openssl       makes throw-away certificates for the TLS tests
# kubectl (with kustomize) ships in the base image; its absence is reported, not installed.
set -euo pipefail

declare -A package_of=([redis-server]=redis-server [promtool]=prometheus [openssl]=openssl)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done

if ((${#missing[@]})); then
  echo "system-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # RUNLEVEL=1 keeps package scripts from starting daemons (Debian's prometheus and redis-server would).
  $SUDO env RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v kubectl >/dev/null 2>&1 || echo "system-deps: warning: kubectl not found; manifest tests will skip" >&2
echo "system-deps: ok (redis-server, promtool, openssl present)"
