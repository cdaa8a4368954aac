#!/usr/bin/env bash
# Installs the Debian packages behind the commands that are missing, as root; otherwise lists them.
#   install-debian-packages.sh LABEL warn|fail COMMAND=PACKAGE...
# "warn": not root only warns (what needs them skips, saying why); "fail": not root is an error.
set -euo pipefail

label=$1
when_not_root=$2
shift 2

missing=()
for pair in "$@"; do
  cmd=${pair%%=*}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then
    missing+=("${pair#*=}")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "$label: not root; missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
  [ "$when_not_root" = warn ] && exit 0
  exit 1
fi

echo "$label: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
