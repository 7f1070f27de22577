#!/usr/bin/env bash
# tools/bench-instructions.sh [--baseline PIONEER_BINARY] [--seconds N] — CPU instructions per
# durable transition, by thread, counted by callgrind: the server's cost in a figure this shared
# machine's noise barely moves.
#
# Runs `pioneer serve` (build-bench/, Release) under valgrind's callgrind, lets one keep-alive
# client fire paced transitions (the benchmark's mix) for N seconds (default 5), zeroing the
# counters first so that start-up is not counted, and prints thousands of instructions per
# committed command for the writer (deciding), the committer (RocksDB write; batches are of one
# command at this pace, so its per-batch cost is all counted), the replier, the I/O threads
# (HTTP: Beast and Asio, our handlers) and the whole process. With --baseline, the other binary
# is measured the same way in the same run and the ratio printed: use it to compare two builds
# (`git worktree`, build, pass its build-bench/pioneer). Results also go to
# bench/results/<timestamp>-instructions.json. Instructions are not time (the kernel, cache misses
# and waiting are not in them, and SHA-256 is counted at its software cost: valgrind does not
# offer the CPU's SHA instructions; bench/README.md), and they move by a few per cent between
# runs (the commands done in the window vary with the machine's speed, and with them the
# memtable's size and where in the mix the run stops: the committer's figure most), but a
# change that removes 5 % of the work shows at once.
set -euo pipefail

SECONDS_LOAD=5
BASELINE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) BASELINE=$(realpath "$2"); shift 2 ;;
    --seconds) SECONDS_LOAD=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench-instructions: unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PIONEER_BENCH_BUILD:-$ROOT/build-bench}
log() { printf '[instructions %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# The build packages and, beside them, what this script needs (tools/setup.sh: idempotent).
bash "$ROOT/tools/setup.sh" valgrind curl >&2
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >&2
fi
log "building (cmake --build $BUILD)"
cmake --build "$BUILD" -j2 --target pioneer pioneer_bench >&2 || die "build"
LOADGEN=$BUILD/bench/pioneer_bench

WORK=$(mktemp -d /tmp/pioneer-instr.XXXXXX)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {print $2}'; }

# measure NAME BINARY: writes $WORK/NAME.json
measure() {
  local name=$1 bin=$2 dir=$WORK/$1
  mkdir -p "$dir"
  log "$name: starting $bin under callgrind"
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
    "$bin" serve --data "$dir/db" --listen 127.0.0.1:0 --demo --workflows "$ROOT/workflows" \
    > "$dir/out" 2> "$dir/log" &
  SERVER_PID=$!
  for _ in $(seq 1 1200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
  grep -q listening "$dir/out" || die "$name: the server did not start under valgrind (log: $(tail -3 "$dir/log"))"
  local port
  port=$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$dir/out" | head -1)
  [ -n "$port" ] || port=$(sed -n 's/.*://p' "$dir/out" | head -1)
  # Warm up (first records, caches), then count from zero.
  "$LOADGEN" http --port "$port" --tokens "$dir/db/demo-tokens.json" --warmup 0 --seconds 1 --conns 1 \
    --scenario transitions --rate 100 > /dev/null
  local before after
  before=$(metric "$port" pioneer_engine_batch_size_sum)
  callgrind_control -z "$SERVER_PID" > /dev/null 2>&1
  "$LOADGEN" http --port "$port" --tokens "$dir/db/demo-tokens.json" --warmup 0 --seconds "$SECONDS_LOAD" \
    --conns 1 --scenario transitions --rate 200 > "$dir/load.json"
  callgrind_control -d "$SERVER_PID" > /dev/null 2>&1
  after=$(metric "$port" pioneer_engine_batch_size_sum)
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  local dump
  dump=$(ls "$dir"/cg.out.* 2>/dev/null | sort | head -1)
  [ -n "$dump" ] || die "$name: no callgrind dump"
  callgrind_annotate --inclusive=yes "$dump" > "$dir/annotate.txt" 2>/dev/null
  python3 - "$dir/annotate.txt" "$before" "$after" "$name" "$bin" "$dir/load.json" > "$WORK/$name.json" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
commands = float(sys.argv[3]) - float(sys.argv[2])
load = json.load(open(sys.argv[6]))
def inclusive(pattern):
    best = 0
    for line in text.splitlines():
        m = re.match(r'\s*([\d,]+) \([ \d.]+%\)\s+(.*)', line)
        if m and re.search(pattern, m.group(2)):
            best = max(best, int(m.group(1).replace(',', '')))
    return best
total = int(re.search(r'([\d,]+) \([ \d.]+%\)\s+PROGRAM TOTALS', text).group(1).replace(',', ''))
parts = {
    'writer': inclusive(r'pioneer::engine::Sequencer::run\(\)'),
    'committer': inclusive(r'pioneer::engine::Sequencer::run_committer\(\)'),
    'replier': inclusive(r'pioneer::engine::Sequencer::run_replier\(\)'),
    'io': inclusive(r'boost::asio::detail::scheduler::run\('),
}
parts['other'] = max(total - sum(parts.values()), 0)
parts['total'] = total
print(json.dumps({'name': sys.argv[4], 'binary': sys.argv[5], 'commands': commands,
                  'errors': load['kinds'].get('write', {}).get('errors', 0),
                  'per_command': {k: v / max(commands, 1) for k, v in parts.items()}}))
PY
  log "$name: $(python3 -c "import json;r=json.load(open('$WORK/$name.json'));print(int(r['commands']),'commands')")"
}

[ -n "$BASELINE" ] && measure baseline "$BASELINE"
measure current "$BUILD/pioneer"

mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-instructions.json
python3 - "$WORK" "$OUT" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, os, sys
work, out, commit = sys.argv[1:4]
runs = {n: json.load(open(os.path.join(work, n + '.json'))) for n in ('baseline', 'current')
        if os.path.exists(os.path.join(work, n + '.json'))}
rows = [('writer', 'writer: decide, record, seal (pioneer-writer)'),
        ('committer', 'committer: RocksDB write + fsync call (pioneer-commit)'),
        ('replier', 'replier: cache, reply body (pioneer-reply)'),
        ('io', 'I/O threads: HTTP, routing, handlers (pioneer-io)'),
        ('other', 'other threads (RocksDB background, timers)'),
        ('total', 'whole process')]
cur = runs['current']['per_command']
base = runs.get('baseline', {}).get('per_command')
print()
print('Instructions per durable transition (thousands), callgrind, 1 client paced at 200/s, commit %s' % commit)
print('%-56s %10s %10s %7s' % ('', 'baseline' if base else '', 'current', 'ratio' if base else ''))
for key, label in rows:
    b = '%10.1f' % (base[key] / 1000) if base else ' ' * 10
    r = '%7.2f' % (cur[key] / base[key]) if base and base[key] else ''
    print('%-56s %s %10.1f %s' % (label, b, cur[key] / 1000, r))
for n, r in runs.items():
    print('%s: %d commands, %d errors, %s' % (n, r['commands'], r['errors'], r['binary']))
json.dump({'commit': commit, 'runs': runs}, open(out, 'w'), indent=1)
print('results: %s' % os.path.relpath(out))
PY
