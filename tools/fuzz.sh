#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and runs each one for
# SECONDS (default 60). Usage: tools/fuzz.sh [SECONDS] [TARGET...]
#
# New interesting inputs go to build-fuzz/corpus/TARGET/ (kept between runs; the seeds in
# fuzz/corpus/TARGET/ are read, never written). A crash, leak or hang leaves its input in
# build-fuzz/artifacts/TARGET/ and makes the script exit 1: copy that file to
# fuzz/regressions/TARGET/ so that tools_test replays it forever (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
all=(definition records time dossier query ws_message api_request multipart csv calendar)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

# clang and its runtime (libFuzzer, sanitizers) are needed only here, not by the normal build.
bash tools/setup.sh clang libclang-rt-14-dev

build_dir="${PIONEER_FUZZ_BUILD_DIR:-build-fuzz}"
generator=()
command -v ninja >/dev/null 2>&1 && [ ! -f "$build_dir/Makefile" ] && generator=(-G Ninja)
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DPIONEER_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build_dir" -j "${PIONEER_JOBS:-2}" --target fuzz_all

failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$build_dir/corpus/$t"
  artifacts="$build_dir/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  log="$build_dir/fuzz-$t.log"
  echo "fuzz: $t for ${seconds}s"
  set +e
  # -timeout: one input taking longer is a hang. -rss_limit_mb: a runaway allocation is a bug.
  # Regressions are run first as part of the corpus, so a fixed bug stays fixed here too.
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" UBSAN_OPTIONS="print_stacktrace=1" \
    "$build_dir/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "fuzz/corpus/$t" \
    $( [ -d "fuzz/regressions/$t" ] && echo "fuzz/regressions/$t" ) >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    summary+=("$t: FAILED (exit $rc) after $execs runs; see $log and $artifacts/")
    grep -E 'ERROR|SUMMARY|property broken' "$log" | head -5 || true
  else
    summary+=("$t: ok, $execs runs, $cov")
  fi
done
echo
printf 'fuzz: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}"
  exit 1
fi
