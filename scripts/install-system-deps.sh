#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when they are missing.
# As root (CI, fresh machines) it installs them; otherwise it lists what is missing and
# the tests that need them skip, saying why.
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [podman]=podman
  [runc]=runc
  [debootstrap]=debootstrap
  [nginx]=nginx
  [wrk]=wrk
  [zip]=zip
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
  echo "system-deps: not root; missing Debian packages: ${missing[*]} (tests needing them will skip)" >&2
  exit 0
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
