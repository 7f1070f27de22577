#!/usr/bin/env bash
# Builds Pioneer and runs the whole test suite (unit, engine on real RocksDB, end-to-end
# against the real server). Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh
build_dir="${PIONEER_BUILD_DIR:-build}"
# Validate the shipped workflows with the binary itself, as a user would.
"$build_dir/pioneer" validate workflows/*.json
cd "$build_dir"
ctest --output-on-failure -j "${PIONEER_TEST_JOBS:-2}"
