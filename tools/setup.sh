#!/usr/bin/env bash
# Installs every Debian package Pioneer needs to build and test, plus any package names given
# as arguments (tools/fuzz.sh asks for clang this way). Idempotent: when everything is already
# installed it does nothing and needs no network. Chromium and the CJK fonts are for the
# console's browser tests. The console's build needs Node >= 20.19 with npm, which Debian 12
# does not package (its nodejs is 18): it is checked here, not installed.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-url1.81-dev
  librocksdb-dev nlohmann-json3-dev libgtest-dev libssl-dev libcli11-dev libjemalloc-dev libargon2-dev
  chromium fonts-noto-cjk
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

# The web console (web/, CMake option PIONEER_WEB, on by default) is built with Node and npm.
node_ok=0
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number);console.log(a>20||(a===20&&b>=19)?1:0)')
fi
if [ "$node_ok" != 1 ]; then
  echo "setup: the web console needs Node >= 20.19 and npm on PATH (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "setup: install them, or build without the console: PIONEER_CMAKE_ARGS=-DPIONEER_WEB=OFF tools/build.sh" >&2
  case "${PIONEER_CMAKE_ARGS:-}" in *-DPIONEER_WEB=OFF*) ;; *) exit 1 ;; esac
fi
