#!/usr/bin/env bash
# Refreshes the copies of the shipped workflows in the definition target's seed corpus
# (fuzz/corpus/definition/) from workflows/*.json, so the fuzzer starts from the definitions
# as they are now. With --check it changes nothing and exits 1 when a copy differs or is
# missing (ctest runs it so; fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1
dest=fuzz/corpus/definition
stale=()
for src in workflows/*.json; do
  copy="$dest/$(basename "$src")"
  if ! cmp -s "$src" "$copy"; then
    stale+=("$copy")
    [ "$check" -eq 1 ] || cp "$src" "$copy"
  fi
done
if [ "$check" -eq 1 ] && [ ${#stale[@]} -gt 0 ]; then
  echo "fuzz corpus copies differ from workflows/ (run fuzz/refresh-corpus.sh): ${stale[*]}" >&2
  exit 1
fi
[ "$check" -eq 1 ] || [ ${#stale[@]} -eq 0 ] || echo "refreshed: ${stale[*]}"
