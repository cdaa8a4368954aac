#!/usr/bin/env bash
# Installs what `make sdk-check` needs besides the SDKs' virtualenvs: podman (the docker API, via
# `podman system service`), a `docker` CLI (the SDKs call `docker compose version` / `docker images`;
# podman-docker when no docker CLI is installed) and docker-compose (the SDKs' local mode runs
# `docker-compose -f ... up`; Debian's 1.29.2 talks to podman's docker API through DOCKER_HOST).
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [podman]=podman
  [runc]=runc
  [debootstrap]=debootstrap
  [docker]=podman-docker
  [docker-compose]=docker-compose
)

missing=()
for cmd in "${!wanted[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then
    missing+=("${wanted[$cmd]}")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "sdk-check: not root; install these Debian packages first: ${missing[*]}" >&2
  exit 1
fi

echo "sdk-check: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
