#!/usr/bin/env bash
# Installs every Debian package Pioneer needs to build and test, plus any package names given
# as arguments (tools/fuzz.sh asks for clang this way). Idempotent: when everything is already
# installed it does nothing and needs no network.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-url1.81-dev
  librocksdb-dev nlohmann-json3-dev libgtest-dev libssl-dev libcli11-dev libjemalloc-dev libargon2-dev
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
