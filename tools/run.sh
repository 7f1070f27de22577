#!/usr/bin/env bash
# Builds Pioneer and runs the server on an embedded default: a RocksDB folder ./data, the demo
# org and users (tokens in ./data/demo-tokens.json), the shipped workflows, 127.0.0.1:8080.
# Any arguments are passed to `pioneer serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh --target pioneer
build_dir="${PIONEER_BUILD_DIR:-build}"
cat <<'MSG'
Pioneer 先锋 — demo server. When it says "listening", try (in another terminal):
  TOKEN=$(python3 -c 'import json;print([u["token"] for u in json.load(open("data/demo-tokens.json"))["users"] if u["id"]=="wang.wei"][0])')
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/me
The README walks through a whole 一支一项 project. Ctrl-C stops the server cleanly.
MSG
# The defaults give way to the caller's own --listen / --data (pioneer serve takes each once).
listen=(--listen 127.0.0.1:8080)
data=(--data data)
for arg in "$@"; do
  case "$arg" in
    --listen|--listen=*) listen=() ;;
    --data|--data=*) data=() ;;
  esac
done
exec "$build_dir/pioneer" serve "${data[@]}" "${listen[@]}" --demo --workflows workflows "$@"
