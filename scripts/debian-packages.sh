#!/usr/bin/env bash
# Install the Debian packages the test suite uses, when their commands are missing.
# Usage: scripts/debian-packages.sh COMMAND=PACKAGE ...   (e.g. dot=graphviz chromium=chromium)
set -euo pipefail
missing=()
for pair in "$@"; do
  command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "warning: cannot install ${missing[*]} (not root, no sudo); tests that need them are skipped" >&2
    exit 0
  fi
else SUDO=""; fi
echo "installing Debian packages: ${missing[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
