#!/usr/bin/env bash
# tools/bench.sh [--short|--full] [--profile] — the whole benchmark suite, baselines included.
#
# Builds what it needs (build-bench/, Release), installs what it needs (postgresql) when
# missing, runs every workload and every baseline in this one invocation, prints the table and
# writes bench/results/<timestamp>.json. --short (default) takes under 2 minutes once the scale
# database is cached; --full uses 10,000 WebSocket clients and 1,000,000 instances.
# --profile also records `perf record --call-graph dwarf` of the server under the 64-client write load.
# Traffic goes to 127.0.0.1 only. See bench/README.md.
set -euo pipefail

MODE=short
PROFILE=0
for arg in "$@"; do
  case "$arg" in
    --short) MODE=short ;;
    --full) MODE=full ;;
    --profile) PROFILE=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $arg (use --short or --full)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PIONEER_BENCH_BUILD:-$ROOT/build-bench}
CACHE=${PIONEER_BENCH_CACHE:-$BUILD/bench-cache}

if [ "$MODE" = full ]; then
  WARM=2; DUR=10; PG_DUR=10; ROCKS_DUR=4; FAN=10000; FAN_EVENTS=20; SCALE=1000000
else
  WARM=1; DUR=3; PG_DUR=3; ROCKS_DUR=1.5; FAN=1000; FAN_EVENTS=10; SCALE=100000
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- packages
# The build packages and, beside them, what this script needs (tools/setup.sh: idempotent).
bash "$ROOT/tools/setup.sh" postgresql >&2
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql"

# ---------------------------------------------------------------- build
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >&2
fi
log "building (cmake --build $BUILD)"
cmake --build "$BUILD" -j2 --target pioneer pioneer_bench pioneer_benchdb >&2 || die "build"
PIONEER=$BUILD/pioneer
LOADGEN=$BUILD/bench/pioneer_bench
DBTOOL=$BUILD/bench/pioneer_benchdb

# ---------------------------------------------------------------- work area, cleanup
WORK=$(mktemp -d /tmp/pioneer-bench.XXXXXX)
PIDS=()
PGDATA=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$PGDATA" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
T_START=$(date +%s)

# ---------------------------------------------------------------- helpers
SERVER_PID=""; PORT=""; START_MS=""
# start_server DIR: starts `pioneer serve` on a free loopback port; START_MS = process start to
# its "listening on" line.
start_server() {
  local dir=$1 out="$WORK/serve.$RANDOM.out"
  local t0 t1 line=""
  : >"$out"
  t0=$(date +%s%N)
  "$PIONEER" serve --data "$dir" --listen 127.0.0.1:0 --demo --workflows "$ROOT/workflows" \
    >"$out" 2>>"$WORK/serve.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 30000); do
    if read -r line <"$out" 2>/dev/null && [[ $line == listening* ]]; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -5 "$WORK/serve.log" >&2; die "server exited"; }
    sleep 0.002
  done
  t1=$(date +%s%N)
  [[ $line == listening* ]] || die "server did not start"
  PORT=${line##*:}
  START_MS=$(( (t1 - t0) / 1000000 ))
}
stop_server() {  # SIGTERM and wait (clean close)
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
kill_server() {  # SIGKILL
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
lg() { "$LOADGEN" http --port "$PORT" --tokens "$DATA/demo-tokens.json" --warmup "$WARM" --seconds "$DUR" --server-pid "$SERVER_PID" "$@"; }

R=$WORK/results
mkdir -p "$R"
{
  echo "{\"mode\":\"$MODE\",\"started\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "\"cpu\":\"$(awk -F: '/model name/ {gsub(/^ +/,"",$2); print $2; exit}' /proc/cpuinfo)\","
  echo "\"cores\":$(nproc),\"kernel\":\"$(uname -r)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "\"commit\":\"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +dirty)\"}"
} >"$R/machine.json"

# ---------------------------------------------------------------- baseline: raw RocksDB
log "baseline: raw RocksDB WriteBatch sync=true (1/16/64 threads, 64 and 24 per batch; 24 with the sync overlapped)"
for t in 1 16 64; do
  "$DBTOOL" rocks --dir "$WORK/rocks" --seconds "$ROCKS_DUR" --threads "$t" >"$R/rocks_t$t.json"
done
"$DBTOOL" rocks --dir "$WORK/rocks" --seconds "$ROCKS_DUR" --threads 1 --batch 64 >"$R/rocks_b64.json"
# Info: 24 per batch (the server's batches at 64 clients), synced as now and with the fsync
# overlapped by the next batch's write (the design measured as the next step, bench/README.md).
"$DBTOOL" rocks --dir "$WORK/rocks" --seconds "$ROCKS_DUR" --threads 1 --batch 24 >"$R/rocks_b24.json"
"$DBTOOL" rocks --dir "$WORK/rocks" --seconds "$ROCKS_DUR" --threads 1 --batch 24 --overlap 1 >"$R/rocks_b24o.json"

# ---------------------------------------------------------------- baseline: PostgreSQL
log "baseline: PostgreSQL $(basename "$(dirname "$PGBIN")") transition transaction via pgbench (1/8/32 clients)"
PGDATA=$WORK/pg
mkdir -p "$PGDATA"
chown postgres: "$PGDATA" "$WORK"
chmod 755 "$WORK"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$WORK/pg-init.log" 2>&1 \
  || { cat "$WORK/pg-init.log" >&2; die "initdb"; }
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$WORK/pg.log" \
  -o "-p $PGPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDATA -c synchronous_commit=on -c fsync=on -c max_connections=100" \
  start >/dev/null || { cat "$WORK/pg.log" >&2; die "pg_ctl start"; }
PSQL=("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres)
"${PSQL[@]}" -c "CREATE DATABASE bench" >/dev/null
"${PSQL[@]}" -d bench -v ON_ERROR_STOP=1 -f "$ROOT/bench/pg/schema.sql" >/dev/null
for c in 1 8 32; do
  "$PGBIN/pgbench" -n -M prepared -h 127.0.0.1 -p "$PGPORT" -U postgres -c "$c" -j "$(( c < 2 ? c : 2 ))" -T "$PG_DUR" \
    -f "$ROOT/bench/pg/transition.sql" bench >"$WORK/pgbench_c$c.txt" 2>&1 || { cat "$WORK/pgbench_c$c.txt" >&2; die "pgbench"; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$WORK/pgbench_c$c.txt")
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$WORK/pgbench_c$c.txt")
  echo "{\"clients\":$c,\"tps\":${tps:-0},\"latency_avg_ms\":${lat:-0}}" >"$R/pg_c$c.json"
done
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null
PGDATA=""

# ---------------------------------------------------------------- the API on an empty database
DATA=$WORK/data-empty
start_server "$DATA"
log "server on :$PORT (start ${START_MS} ms); HTTP ceiling: GET /api/v1/me, 64 connections"
lg --scenario me --conns 64 >"$R/ceiling_c64.json"
for c in 1 16 64; do
  log "durable transitions through the API, $c keep-alive clients"
  if [ "$PROFILE" = 1 ] && [ "$c" = 64 ] && command -v perf >/dev/null; then
    # DWARF call graphs: the Release build has no frame pointers. Reporting takes a minute.
    perf record -F 400 --call-graph dwarf,16384 -o "$WORK/perf.data" -p "$SERVER_PID" -- sleep $((WARM + DUR)) \
      >/dev/null 2>&1 &
    PERF=$!
    lg --scenario transitions --conns "$c" >"$R/api_c$c.json"
    wait "$PERF" || true
    timeout 600 perf report -i "$WORK/perf.data" --children --percent-limit 2 --stdio -g none 2>/dev/null \
      | grep -E '^ +[0-9]' | grep -E 'pioneer::|rocksdb::DBImpl::Write|fdatasync' | cut -c1-180 | head -40 \
      >"$WORK/perf_top.txt" || true
  else
    lg --scenario transitions --conns "$c" >"$R/api_c$c.json"
  fi
done
PEAK=$(python3 - "$R" <<'EOF'
import json, sys
print(max(json.load(open(f"{sys.argv[1]}/api_c{c}.json"))["kinds"]["write"]["ok_per_s"] for c in (1, 16, 64)))
EOF
)
HALF=$(python3 -c "print(round($PEAK / 2))")
log "paced transitions at half of peak ($HALF/s of ${PEAK%.*}/s), 64 clients"
lg --scenario transitions --conns 64 --rate "$HALF" >"$R/api_half.json"
log "reads beside writes at half of peak: 64 paced writers + 4 readers paced at 200 reads/s in all"
lg --scenario mixed --conns 64 --rate "$HALF" --readers 4 --read-rate 200 >"$R/api_mixed_half.json"
log "reads under saturating write load (info): 16 writers + 4 readers"
lg --scenario mixed --conns 16 --readers 4 >"$R/api_mixed.json"
echo "{\"rss_kb\":$(rss_kb "$SERVER_PID")}" >"$R/server_empty.json"
stop_server

# ---------------------------------------------------------------- fan-out
log "fan-out: $FAN WebSocket clients"
start_server "$DATA"
"$LOADGEN" ws --port "$PORT" --tokens "$DATA/demo-tokens.json" --clients "$FAN" --events "$FAN_EVENTS" \
  --interval-ms 200 --server-pid "$SERVER_PID" >"$R/fanout.json"
stop_server

# ---------------------------------------------------------------- scale
SCALE_DB=$CACHE/scale-$SCALE-v3  # v2: compacted after generation; v3: partitioned index and filters
if [ ! -f "$SCALE_DB/.complete" ]; then
  log "generating $SCALE instances (bulk path; cached in $SCALE_DB for later runs)"
  rm -rf "$SCALE_DB"
  mkdir -p "$CACHE"
  "$DBTOOL" bulk --data "$SCALE_DB" --workflows "$ROOT/workflows" --instances "$SCALE" >"$CACHE/scale-$SCALE.json"
  touch "$SCALE_DB/.complete"
fi
cp "$CACHE/scale-$SCALE.json" "$R/scale_gen.json"
# A working copy: SST files are immutable, so hard links are safe; everything else is copied.
DATA=$WORK/data-scale
mkdir -p "$DATA"
for f in "$SCALE_DB"/*; do
  case "$f" in *.sst) ln "$f" "$DATA/" ;; *) cp -a "$f" "$DATA/" ;; esac
done
# A branch with no instances and its secretary, who may see nothing: the event feed's worst
# case before its work was bounded (the CLI writes with the server stopped).
"$PIONEER" org add --data "$DATA" --id city/education/b9 --name 市教育局第九党支部 --kind branch >/dev/null
NOBODY_TOKEN=$("$PIONEER" user add --data "$DATA" --id qian.feng --name 钱峰 --home city/education/b9 \
  --role branch_secretary@city/education/b9 | sed -n 's/.*: \(pio_[A-Za-z0-9_-]*\).*/\1/p')
[ -n "$NOBODY_TOKEN" ] || die "could not add the user who sees nothing"
python3 - "$DATA/demo-tokens.json" "$NOBODY_TOKEN" <<'PY'
import json, sys
path, token = sys.argv[1], sys.argv[2]
d = json.load(open(path))
d["users"].append({"id": "qian.feng", "token": token, "roles": [{"role": "branch_secretary", "org": "city/education/b9"}]})
json.dump(d, open(path, "w"), ensure_ascii=False, indent=2)
PY
log "scale: Engine::open on $SCALE instances"
"$DBTOOL" open --data "$DATA" --repeat 3 >"$R/scale_engine_open.json"
start_server "$DATA"
OPEN_CLEAN=$START_MS
log "scale: server start after a clean stop ${OPEN_CLEAN} ms; reads (list, to-do, instance, history), 1 and 4 clients"
lg --scenario reads --conns 1 >"$R/scale_reads.json"
lg --scenario reads --conns 4 >"$R/scale_reads_c4.json"
log "scale: bounded reads (feed from 0 for a user who sees nothing and for a branch; a state without its workflow)"
lg --scenario bounds --conns 1 --nobody qian.feng >"$R/scale_bounds.json"
RSS_READS=$(rss_kb "$SERVER_PID")
log "scale: durable transitions, 16 clients"
lg --scenario transitions --conns 16 >"$R/scale_c16.json"
RSS_WRITES=$(rss_kb "$SERVER_PID")
# Crash under load: SIGKILL while 16 clients write, then time the restart (log replay).
"$LOADGEN" http --port "$PORT" --tokens "$DATA/demo-tokens.json" --warmup 0 --seconds 3 --scenario transitions --conns 16 \
  >/dev/null 2>&1 &
LGPID=$!
sleep 1.5
kill_server
wait "$LGPID" 2>/dev/null || true
start_server "$DATA"
OPEN_KILL=$START_MS
log "scale: server start after SIGKILL ${OPEN_KILL} ms"
RSS_OPEN=$(rss_kb "$SERVER_PID")
stop_server
echo "{\"instances\":$SCALE,\"open_clean_ms\":$OPEN_CLEAN,\"open_kill_ms\":$OPEN_KILL,\"rss_after_reads_kb\":$RSS_READS,\"rss_after_writes_kb\":$RSS_WRITES,\"rss_after_restart_kb\":$RSS_OPEN}" \
  >"$R/scale.json"
rm -rf "$DATA"

# ---------------------------------------------------------------- report
T_END=$(date +%s)
echo "{\"seconds\":$((T_END - T_START))}" >"$R/run.json"
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$MODE.json
python3 "$ROOT/bench/report.py" "$R" "$OUT"
if [ -f "$WORK/perf_top.txt" ]; then echo; echo "perf (server, 64 writers; children %):"; cat "$WORK/perf_top.txt"; fi
log "results: $OUT ($((T_END - T_START)) s)"
