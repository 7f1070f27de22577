#!/usr/bin/env python3
"""Crash test: the real `pioneer serve` under concurrent load, killed with SIGKILL at random
moments and restarted on the same data; then a graceful stop (SIGTERM) under load.

After every cycle it checks:
  - every acknowledged write is present: GET the instance, version >= the acknowledged version
    (all writes of the cycle, a sample of the earlier ones; everything at the end);
  - `pioneer verify --data DIR` exits 0 with the server stopped: the event sequence is gap-free,
    the hash chain intact, every instance's history is its events 1..version, and every index
    entry, statistics counter and timer agrees with the instance records;
  - timers neither lost nor doubled: instances are assigned with a due date in the past, so the
    `overdue` timer is armed in the same batch as the assignment and falls due at once. After
    the restart each of them must show `overdue: true` (the timer survived the crash), and no
    instance has two events of the same timer within one visit of a state (it fired once).
The graceful stop: SIGTERM while clients write; the server must exit 0, and every write it
acknowledged must be there after the restart (a write is either acknowledged and durable, or
refused / cut off, never acknowledged and lost).

Usage: tools/crash_test.py [--cycles N] [--binary build/pioneer] [--clients 6] [--seed S]
Standard library only (python3 >= 3.9).
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two departments, each with its party group, organ committee and first branch secretary.
DEPARTMENTS = [
    {"org": "city/finance", "party": "wang.wei", "committee": "li.na", "secretary": "zhang.min",
     "branch": "city/finance/b1"},
    {"org": "city/education", "party": "chen.jie", "committee": "zhao.lei", "secretary": "sun.li",
     "branch": "city/education/b1"},
]


class Failure(Exception):
    pass


class Server:
    def __init__(self, binary, data, workflows, log_dir, name="serve"):
        self.binary, self.data, self.workflows, self.log_dir, self.name = binary, data, workflows, log_dir, name
        self.proc = None
        self.port = None
        self.starts = 0

    def start(self):
        self.starts += 1
        out_path = os.path.join(self.log_dir, "%s-%d.out" % (self.name, self.starts))
        err_path = os.path.join(self.log_dir, "%s-%d.err" % (self.name, self.starts))
        self.out = open(out_path, "w+")
        self.err = open(err_path, "w")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data", self.data, "--listen", "127.0.0.1:0", "--demo",
             "--workflows", self.workflows],
            stdout=self.out, stderr=self.err, cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failure("server exited with %s at start; see %s" % (self.proc.returncode, err_path))
            with open(out_path) as f:
                for line in f:
                    if line.startswith("listening on http://"):
                        self.port = int(line.strip().rsplit(":", 1)[1])
                        return
            time.sleep(0.05)
        raise Failure("server did not print 'listening on' within 60 s")

    def kill(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("server did not exit within %d s of the signal" % timeout)


class Ledger:
    """What the server acknowledged: instance id -> highest acknowledged version, and more."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}          # id -> version
        self.writes = 0          # acknowledged writes, total
        self.in_doubt = 0        # writes cut off by the kill (neither acknowledged nor refused)
        self.refused = 0         # writes answered with an error (4xx/503) or refused connection
        self.overdue_due = set()  # ids acknowledged as assigned with a past due date
        self.cycle_ids = set()

    def ack(self, iid, version):
        with self.lock:
            if version > self.acked.get(iid, 0):
                self.acked[iid] = version
            self.writes += 1
            self.cycle_ids.add(iid)


class Client(threading.Thread):
    """Takes yizhi-yixiang instances through create, issue, assign (due yesterday), claim and
    progress reports, with comments and urges in between, until told to stop or the server
    goes away."""

    def __init__(self, n, port, tokens, ledger, stop, rng):
        super().__init__(daemon=True)
        self.n, self.port, self.tokens, self.ledger, self.stop, self.rng = n, port, tokens, ledger, stop, rng
        self.conn = None
        self.gone = False

    def request(self, method, path, user, body=None):
        """Returns (status, json) or None when the connection failed (write in doubt)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            try:
                headers = {"Authorization": "Bearer " + self.tokens[user]}
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    headers["Content-Type"] = "application/json"
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, (json.loads(text) if text else None)
            except ConnectionRefusedError:
                # Nothing was sent: the server is gone (or stopping). Refused, not in doubt.
                self.conn = None
                self.gone = True
                return 0, None
            except (OSError, http.client.HTTPException):
                # The request may or may not have reached the server: never retried (it is
                # not idempotent without a key), it is a write in doubt.
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                self.gone = True
                return None
        return None

    def write(self, path, user, body):
        r = self.request("POST", path, user, body)
        if r is None:
            with self.ledger.lock:
                self.ledger.in_doubt += 1
            return None
        status, reply = r
        if status in (200, 201) and reply and "id" in reply and "version" in reply:
            self.ledger.ack(reply["id"], reply["version"])
            return reply
        with self.ledger.lock:
            self.ledger.refused += 1
        if status >= 500 and status != 503:
            raise Failure("server answered %d to %s: %s" % (status, path, reply))
        return None

    def run(self):
        try:
            self.loop()
        except Failure as e:
            self.failure = e

    failure = None

    def loop(self):
        yesterday = (datetime.now(timezone(timedelta(hours=8))) - timedelta(days=2)).strftime("%Y-%m-%d")
        i = 0
        while not self.stop.is_set() and not self.gone:
            i += 1
            d = DEPARTMENTS[self.rng.randrange(len(DEPARTMENTS))]
            title = "崩溃测试 c%d-%d-%d" % (self.n, os.getpid(), i)
            created = self.write("/api/v1/instances", d["party"],
                                 {"workflow": "yizhi-yixiang", "org": d["org"],
                                  "fields": {"title": title, "goal": "目标", "area": "service"}})
            if not created:
                continue
            iid = created["id"]
            base = "/api/v1/instances/%s/transitions" % iid
            steps = [
                (d["party"], {"transition": "issue"}),
                (d["committee"], {"transition": "assign",
                                  "fields": {"branch": d["branch"], "due_date": yesterday}}),
                (d["committee"], {"transition": "urge", "comment": "请尽快认领"}),
                (d["secretary"], {"transition": "claim"}),
            ] + [(d["secretary"], {"transition": "report_progress",
                                   "fields": {"progress": "第%d次进展" % k, "percent": 10 * k}})
                 for k in range(1, self.rng.randrange(2, 5))]
            for user, body in steps:
                if self.stop.is_set() or self.gone:
                    break
                reply = self.write(base, user, body)
                if reply is None:
                    break
                if body["transition"] == "assign":
                    with self.ledger.lock:
                        self.ledger.overdue_due.add(iid)
                if self.rng.random() < 0.2:
                    self.write("/api/v1/instances/%s/comments" % iid, d["committee"], {"comment": "跟进"})


def get(port, token, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def check_acknowledged(port, admin_token, ledger, ids):
    """Every acknowledged write present: version >= acknowledged version."""
    for iid in ids:
        want = ledger.acked[iid]
        status, body = get(port, admin_token, "/api/v1/instances/" + iid)
        if status != 200:
            raise Failure("acknowledged instance %s (version %d) is missing: %d %s" % (iid, want, status, body))
        if body["version"] < want:
            raise Failure("instance %s lost acknowledged writes: version %d < acknowledged %d" % (iid, body["version"], want))
    return len(ids)


def check_timers(port, admin_token, ids, wait_s=20):
    """Not lost: every instance assigned with a past due date is marked overdue (after the
    restart the writer fires what fell due). Not doubled: one event per timer per state visit."""
    pending = set(ids)
    deadline = time.time() + wait_s
    while pending and time.time() < deadline:
        for iid in list(pending):
            status, body = get(port, admin_token, "/api/v1/instances/" + iid)
            if status == 200 and body.get("overdue"):
                pending.discard(iid)
        if pending:
            time.sleep(0.25)
    if pending:
        raise Failure("timers lost: %d instances assigned with a past due date never became overdue, e.g. %s"
                      % (len(pending), sorted(pending)[:3]))
    for iid in ids:
        status, body = get(port, admin_token, "/api/v1/instances/%s/events" % iid)
        if status != 200:
            raise Failure("events of %s: %d" % (iid, status))
        events = body["items"] if isinstance(body, dict) else body
        seen = set()
        visit = 0
        for k, e in enumerate(events):
            if e["instance_seq"] != k + 1:
                raise Failure("instance %s: instance_seq %s at position %d" % (iid, e["instance_seq"], k + 1))
            if e.get("to") is not None and e.get("from") != e.get("to"):
                visit += 1
            timer = (e.get("changes") or {}).get("timer")
            if timer:
                if (visit, timer) in seen:
                    raise Failure("timer %s fired twice in one visit of a state of %s" % (timer, iid))
                seen.add((visit, timer))
    return len(ids)


def verify(binary, data):
    r = subprocess.run([binary, "verify", "--data", data], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise Failure("pioneer verify --data failed (%d):\n%s\n%s" % (r.returncode, r.stdout[-3000:], r.stderr[-2000:]))
    report = json.loads(r.stdout)
    return report["events_checked"], report["instances_checked"]


def online_tools(binary, data, work, ledger):
    """While the server serves under load: pioneer backup (checkpoint of a read-only open,
    verified) and pioneer export + verify --dossier of an acknowledged instance. Returns the
    backup folder and what was acknowledged before it began."""
    with ledger.lock:
        before = dict(ledger.acked)
    dest = os.path.join(work, "backup")
    r = subprocess.run([binary, "backup", "--data", data, "--to", dest], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise Failure("pioneer backup under load failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
    if before:
        iid = sorted(before)[0]
        dossier = os.path.join(work, "dossier.json")
        r = subprocess.run([binary, "export", "--data", data, "--instance", iid, "--out", dossier],
                           capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            raise Failure("pioneer export under load failed (%d): %s" % (r.returncode, r.stderr[-2000:]))
        r = subprocess.run([binary, "verify", "--dossier", dossier], capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            raise Failure("the dossier exported under load does not verify: %s" % r.stdout[-2000:])
    return dest, before


def check_restore(binary, workflows, work, tokens, dest, before):
    """Restore = serve from the copy: every write acknowledged before the backup began is there,
    and the restored server takes writes."""
    restored = Server(binary, dest, workflows, work, name="restored")
    restored.start()
    try:
        for iid, version in before.items():
            status, body = get(restored.port, tokens["admin"], "/api/v1/instances/" + iid)
            if status != 200 or body["version"] < version:
                raise Failure("backup lacks acknowledged write: %s version %d: %d %s" % (iid, version, status, body))
        conn = http.client.HTTPConnection("127.0.0.1", restored.port, timeout=30)
        conn.request("POST", "/api/v1/instances", body=json.dumps(
            {"workflow": "yizhi-yixiang", "org": "city/finance",
             "fields": {"title": "恢复后", "goal": "g", "area": "service"}}).encode(),
            headers={"Authorization": "Bearer " + tokens["wang.wei"], "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            raise Failure("the server restored from the backup refused a write: %d" % resp.status)
    finally:
        restored.kill(signal.SIGTERM)
        restored.wait(timeout=60)
    return len(before)


def run_load(server, tokens, ledger, clients, rng, seconds, sig, during=None):
    """Clients write for `seconds` (calling `during` meanwhile), then the server gets `sig`.
    Returns (exit code, what `during` returned)."""
    stop = threading.Event()
    threads = [Client(n, server.port, tokens, ledger, stop, random.Random(rng.random())) for n in range(clients)]
    for t in threads:
        t.start()
    start = time.time()
    result = None
    if during is not None:
        time.sleep(seconds / 2)
        result = during()
    time.sleep(max(0.0, seconds - (time.time() - start)))
    server.kill(sig)
    code = server.wait(timeout=60)
    stop.set()
    for t in threads:
        t.join(timeout=60)
        if t.failure:
            raise t.failure
    return code, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=3, help="SIGKILL cycles (CI: 3; long form: 100)")
    ap.add_argument("--binary", default=os.path.join(ROOT, os.environ.get("PIONEER_BUILD_DIR", "build"), "pioneer"))
    ap.add_argument("--workflows", default=os.path.join(ROOT, "workflows"))
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--min-run", type=float, default=0.3, help="least seconds of load before a kill")
    ap.add_argument("--max-run", type=float, default=3.0, help="most seconds of load before a kill")
    ap.add_argument("--sample", type=int, default=300, help="earlier instances re-checked per cycle")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print("crash test: seed %d, %d cycles, %d clients, binary %s" % (seed, args.cycles, args.clients, args.binary), flush=True)
    if not os.access(args.binary, os.X_OK):
        print("crash test: no binary at %s (build it: cmake --build build --target pioneer)" % args.binary)
        return 2

    work = tempfile.mkdtemp(prefix="pioneer-crash-")
    data = os.path.join(work, "data")
    server = Server(args.binary, data, args.workflows, work)
    ledger = Ledger()
    checked_total = timers_total = 0
    ok = False
    try:
        server.start()
        with open(os.path.join(data, "demo-tokens.json")) as f:
            tokens = {u["id"]: u["token"] for u in json.load(f)["users"]}
        admin = tokens["admin"]  # admin@city sees every department

        def reader_token():
            return admin

        cycles = args.cycles + 1  # the last one is the graceful stop
        for cycle in range(1, cycles + 1):
            graceful = cycle == cycles
            ledger.cycle_ids = set()
            seconds = rng.uniform(args.min_run, args.max_run) if not graceful else max(args.max_run, 1.0)
            # The first cycle also takes an online backup and exports a dossier while the
            # clients write; the copy is then served and checked (restore = serve the copy).
            during = (lambda: online_tools(args.binary, data, work, ledger)) if cycle == 1 else None
            code, online = run_load(server, tokens, ledger, args.clients, rng, seconds,
                                    signal.SIGTERM if graceful else signal.SIGKILL, during)
            if graceful and code != 0:
                raise Failure("graceful stop: the server exited with %d after SIGTERM" % code)
            if not graceful and code != -signal.SIGKILL:
                raise Failure("the server exited with %s before it was killed" % code)
            events, instances = verify(args.binary, data)
            server.start()
            ids = sorted(ledger.cycle_ids)
            earlier = sorted(set(ledger.acked) - ledger.cycle_ids)
            sample = rng.sample(earlier, min(len(earlier), args.sample))
            reader = reader_token()
            checked = check_acknowledged(server.port, reader, ledger, ids + sample)
            due = sorted(ledger.overdue_due & ledger.cycle_ids)
            timers = check_timers(server.port, reader, due)
            if online is not None:
                restored = check_restore(args.binary, args.workflows, work, tokens, *online)
                print("online backup under load: verified, restored, served; %d acknowledged instances found in it"
                      % restored, flush=True)
            checked_total += checked
            timers_total += timers
            print("cycle %d/%d (%s after %.1fs): acknowledged writes %d so far; checked %d instances "
                  "(%d of this cycle), %d timers; verify: %d events, %d instances intact; in doubt %d"
                  % (cycle, cycles, "SIGTERM" if graceful else "SIGKILL", seconds, ledger.writes, checked,
                     len(ids), timers, events, instances, ledger.in_doubt), flush=True)
        # Everything acknowledged, ever.
        final = check_acknowledged(server.port, reader_token(), ledger, sorted(ledger.acked))
        server.kill(signal.SIGTERM)
        if server.wait(timeout=60) != 0:
            raise Failure("the server did not stop cleanly at the end")
        events, instances = verify(args.binary, data)
        print("crash test passed: %d SIGKILL cycles + 1 SIGTERM under load; %d acknowledged writes on %d "
              "instances, all present at the end (%d instance checks during the cycles); %d overdue timers "
              "checked (none lost, none doubled); %d writes in doubt at kills, %d refused; final verify: %d events, "
              "%d instances" % (args.cycles, ledger.writes, len(ledger.acked), checked_total + final, timers_total,
                                ledger.in_doubt, ledger.refused, events, instances), flush=True)
        ok = True
        return 0
    except Failure as e:
        print("crash test FAILED (seed %d): %s" % (seed, e), flush=True)
        print("data and server logs kept in %s" % work, flush=True)
        return 1
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif ok:
            print("data kept in %s" % work)


if __name__ == "__main__":
    sys.exit(main())
