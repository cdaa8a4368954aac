#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when they are missing.
# As root (CI, fresh machines) it installs them; otherwise it lists what is missing and
# the tests that need them skip, saying why.
set -euo pipefail
exec bash "$(dirname "$0")/install-debian-packages.sh" system-deps warn \
  podman=podman runc=runc debootstrap=debootstrap nginx=nginx wrk=wrk zip=zip
