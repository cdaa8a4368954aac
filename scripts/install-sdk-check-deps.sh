#!/usr/bin/env bash
# Installs what `make sdk-check` needs besides the SDKs' virtualenvs: podman (the docker API, via
# `podman system service`), a `docker` CLI (the SDKs call `docker compose version` / `docker images`;
# podman-docker when no docker CLI is installed) and docker-compose (the SDKs' local mode runs
# `docker-compose -f ... up`; Debian's 1.29.2 talks to podman's docker API through DOCKER_HOST).
set -euo pipefail
exec bash "$(dirname "$0")/install-debian-packages.sh" sdk-check fail \
  podman=podman runc=runc debootstrap=debootstrap docker=podman-docker docker-compose=docker-compose
