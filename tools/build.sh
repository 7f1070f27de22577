#!/usr/bin/env bash
# Configures and builds Pioneer into build/ (or $PIONEER_BUILD_DIR). Extra arguments are
# passed to `cmake --build` (for example `--target pioneer`). Uses Ninja and ccache when
# present, and two parallel jobs by default (the machines here have 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${PIONEER_BUILD_DIR:-build}"
# ccache: hash paths relative to the checkout, so another clone of the same tree (CI's) hits the
# same cache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build_dir/Makefile" ]; then generator=(-G Ninja); fi
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="${PIONEER_BUILD_TYPE:-RelWithDebInfo}" \
  ${PIONEER_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j "${PIONEER_JOBS:-2}" "$@"
